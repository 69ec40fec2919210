from django.contrib import admin
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.admin import ReasonForm, reason_action
from members.audit import Actor
from sharing.models import ConsortiumKey
from sharing.services.keys import consortium_key_retire


@admin.register(ConsortiumKey)
class ConsortiumKeyAdmin(admin.ModelAdmin):
    """Key versions are created with `manage.py consortium_key_new` (the key goes to a file, never the web)."""

    list_display = ["version", "state", "check_value", "created_at", "created_by", "retired_at"]
    list_filter = ["state"]
    actions = ["retire"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Retire (with a reason)…"), permissions=["retire"])
    def retire(self, request, queryset):
        return reason_action(
            self,
            request,
            queryset,
            form_class=ReasonForm,
            title=gettext("Retire consortium key versions"),
            apply=lambda obj, data: consortium_key_retire(
                actor=Actor.operator(request.user), version=obj.version, reason=data["reason"]
            ),
        )

    def has_retire_permission(self, request) -> bool:
        return request.user.has_perm("sharing.retire_consortiumkey")
