"""The admin of post-loan monitoring: watches per member (counts, never tokens), webhook endpoints with
their health, and a replay action (audited, as every operator action)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.admin import EstimatedCountPaginator, ReadOnlyAdminMixin
from members.admin.dashboard import Line, Panel, changelist_url, dashboard_panel
from members.audit import Actor, audit_labels_register
from sharing.monitoring.models import Watch, WebhookDelivery, WebhookEndpoint
from sharing.monitoring.selectors import endpoints_with_health, watch_counts_by_member
from sharing.monitoring.services import endpoint_dead_letters_replay
from sharing.tokens.admin import id_type_label


@admin.register(Watch)
class WatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Members' watches, without their tokens (they are not even loaded), and the count per member."""

    list_display = ["reference", "member", "identifier_types_shown", "expires_on", "created_at"]
    list_filter = ["member"]
    search_fields = ["reference"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = [
        "member",
        "reference",
        "identifier_types_shown",
        "consent_reference",
        "key_version",
        "expires_on",
        "created_at",
        "updated_at",
    ]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    @admin.display(description=_("identifier types"))
    def identifier_types_shown(self, watch: Watch) -> str:
        return "、".join(id_type_label(id_type) for id_type in watch.identifier_types)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "watch_counts": watch_counts_by_member()})


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Members' endpoints and their health; the signing secrets are never shown."""

    list_display = [
        "id",
        "member",
        "url",
        "status",
        "last_success_at",
        "consecutive_failures",
        "dead_letters",
        "created_at",
    ]
    list_filter = ["status"]
    actions = ["replay_dead_letters"]
    fields = [
        "member",
        "url",
        "types",
        "status",
        "last_success_at",
        "consecutive_failures",
        "previous_secret_until",
        "created_at",
        "deleted_at",
    ]

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def get_queryset(self, request):
        return endpoints_with_health()

    @admin.display(description=_("dead letters"), ordering="dead")
    def dead_letters(self, obj) -> int:
        return obj.dead

    @admin.action(description=_("Replay dead letters"), permissions=["replay"])
    def replay_dead_letters(self, request, queryset):
        actor = Actor.operator(request.user)
        for endpoint in queryset:
            queued = endpoint_dead_letters_replay(actor=actor, endpoint=endpoint)
            self.message_user(
                request,
                gettext("%(endpoint)s: %(count)d delivery(ies) queued again.")
                % {"endpoint": endpoint, "count": queued},
                messages.SUCCESS,
            )

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("sharing.replay_webhookendpoint")


@dashboard_panel(20)
def monitoring_panel(request) -> Panel | None:
    """Members' webhook endpoints that fail, and deliveries that gave up (dead letters), for a replay."""
    if not request.user.has_perm("sharing.view_webhookendpoint"):
        return None
    failing = WebhookEndpoint.objects.filter(status=WebhookEndpoint.Status.FAILING, deleted_at__isnull=True).count()
    dead = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.DEAD).count()
    return Panel(
        gettext("Post-loan monitoring"),
        [
            Line(
                gettext("Webhook endpoints failing"),
                failing,
                changelist_url("sharing.webhookendpoint", status=WebhookEndpoint.Status.FAILING),
                tone="alert",
            ),
            Line(gettext("Webhook deliveries dead-lettered"), dead, changelist_url("sharing.webhookendpoint")),
        ],
    )


# What operators read for this package's audit action codes (stored in English: they are hashed into the
# audit chain).
audit_labels_register(
    actions={
        "watch.deleted": _("Watch removed"),
        "watches.put": _("Watches registered"),
        "webhook_endpoint.created": _("Webhook endpoint created"),
        "webhook_endpoint.dead_letters_replayed": _("Webhook dead letters replayed"),
        "webhook_endpoint.deleted": _("Webhook endpoint deleted"),
        "webhook_endpoint.disabled": _("Webhook endpoint disabled (410)"),
        "webhook_endpoint.failing": _("Webhook endpoint marked failing"),
        "webhook_endpoint.replayed": _("Webhook events replayed"),
        "webhook_endpoint.secret_rotated": _("Webhook signing secret rotated"),
        "webhook_endpoint.tested": _("Webhook endpoint tested"),
    },
)
