"""What every page of the operators' desk shares: read-only lists, reason pages, single-use forms, labels."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.core import signing
from django.core.paginator import Paginator
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from members.audit import actor_text, audit_action_label, audit_actor_label
from members.models import AdminFormUse, AuditEvent

RECENT_EVENTS = 20


class EstimatedCountPaginator(Paginator):
    """Counting a large append-only table exactly is slow; unfiltered lists use the planner's estimate."""

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                estimate = cursor.fetchone()[0]
            if estimate > 100_000:
                return estimate
        return super().count


class ReadOnlyAdminMixin:
    """Rows that only services write: the admin lists and shows them, nobody edits or deletes them here."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ActorLabelsMixin:
    """Shows the stored "by" labels of ``actor_fields`` as operators read them (system actors translated)."""

    actor_fields: tuple[str, ...] = ()

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        for name in self.actor_fields:
            setattr(self, f"{name}_shown", self._actor_display(model, name))

    @staticmethod
    def _actor_display(model, name: str):
        def shown(obj) -> str:
            return actor_text(getattr(obj, name)) or "—"

        shown.short_description = model._meta.get_field(name).verbose_name
        return shown

    def _shown(self, names):
        return [f"{name}_shown" if name in self.actor_fields else name for name in names]

    def get_list_display(self, request):
        return self._shown(super().get_list_display(request))

    def get_readonly_fields(self, request, obj=None):
        return self._shown(super().get_readonly_fields(request, obj))

    def get_fields(self, request, obj=None):
        return self._shown(super().get_fields(request, obj))

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or []), *self.actor_fields]


class AuditLinkMixin:
    """The change page links to the object's audit events where Django would link its own history.

    Django's history reads LogEntry rows, which the services do not write: the audit trail is the
    one history, so the button leads there.
    """

    def audit_url(self, obj: Model) -> str:
        query = {"object_type": obj._meta.label_lower, "object_id": str(obj.pk)}
        return f"{reverse('admin:members_auditevent_changelist')}?{urlencode(query)}"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = {"audit_url": self.audit_url(obj)} if obj is not None else {}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def history_view(self, request, object_id, extra_context=None):
        from django.http import HttpResponseRedirect

        obj = self.get_object(request, object_id)
        if obj is None:
            return super().history_view(request, object_id, extra_context)
        return HttpResponseRedirect(self.audit_url(obj))


def object_type_label(object_type: str) -> str:
    """A stored object type (`app_label.model`) as an operator reads it: the model's verbose name."""
    if not object_type:
        return ""
    try:
        return str(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        return object_type


def local_time(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def period_label(start: dt.date, end: dt.date) -> str:
    """A half-open period [start, end) as the inclusive dates a person reads: 11月1日–11月30日."""
    last = end - dt.timedelta(days=1)
    same_year = start.year == last.year == timezone.localdate().year
    fmt = "MONTH_DAY_FORMAT" if same_year else "DATE_FORMAT"
    return f"{date_format(start, fmt)}–{date_format(last, fmt)}"


def audit_events_table(events) -> str:
    """A compact table of audit events for an object's page, newest first, each linked to its full entry."""
    rows = [
        (
            reverse("admin:members_auditevent_change", args=[event.pk]),
            event.seq,
            local_time(event.occurred_at),
            audit_action_label(event.action),
            audit_actor_label(event.actor_type, event.actor_label),
        )
        for event in events
    ]
    if not rows:
        return gettext("No audit events yet.")
    return format_html(
        "<table><thead><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        gettext("time"),
        gettext("action"),
        gettext("actor"),
        format_html_join("", '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>', rows),
    )


# --- single-use forms ---------------------------------------------------------------------------------

_NONCE_SALT = "riskshare.admin.single-use-form"
# A form left open longer than this is refused and must be reloaded (a fresh nonce).
_NONCE_MAX_AGE = 24 * 3600


class FormAlreadyUsed(Exception):
    def __init__(self, use: AdminFormUse | None):
        super().__init__("form already used")
        self.use = use


def single_use_nonce(request, purpose: str) -> str:
    """A nonce for one rendering of a form, signed to the operator and the form's purpose."""
    return signing.dumps({"n": secrets.token_hex(16), "u": request.user.pk, "p": purpose}, salt=_NONCE_SALT)


class SingleUseField(forms.CharField):
    """The hidden nonce of a single-use form: a forged or stale one is a validation error."""

    def __init__(self, purpose: str, **kwargs):
        self.purpose = purpose
        super().__init__(widget=forms.HiddenInput, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        try:
            data = signing.loads(value, salt=_NONCE_SALT, max_age=_NONCE_MAX_AGE)
        except signing.BadSignature as exc:
            raise forms.ValidationError(_("This form has expired; reload the page and fill it in again.")) from exc
        if data.get("p") != self.purpose:
            raise forms.ValidationError(_("This form has expired; reload the page and fill it in again."))
        return value


def single_use_claim(request, *, purpose: str, nonce: str) -> AdminFormUse:
    """Claim a form's nonce inside the caller's transaction, which does the form's work.

    The nonce is the primary key of ``AdminFormUse``: a second submission of the same form conflicts
    (and a concurrent one waits for the first to commit, then conflicts). Raises ``FormAlreadyUsed``
    with the row of the first use.
    """
    data = signing.loads(nonce, salt=_NONCE_SALT, max_age=_NONCE_MAX_AGE)
    if data.get("u") != request.user.pk or data.get("p") != purpose:
        raise FormAlreadyUsed(None)
    try:
        with transaction.atomic():
            return AdminFormUse.objects.create(nonce=data["n"], purpose=purpose, user_id=request.user.pk)
    except IntegrityError:
        raise FormAlreadyUsed(AdminFormUse.objects.filter(nonce=data["n"]).first()) from None


def single_use_done(use: AdminFormUse, obj: Model) -> None:
    """Name what the form made on its use, for the page a resubmission gets."""
    use.object_type = obj._meta.label_lower
    use.object_id = str(obj.pk)
    use.object_repr = str(obj)[:200]
    use.save(update_fields=["object_type", "object_id", "object_repr"])


def already_used_response(request, modeladmin, use: AdminFormUse | None, *, explanation: str) -> TemplateResponse:
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": gettext("This form was already used"),
        "use": use,
        "used_at": local_time(use.used_at) if use else "",
        "explanation": explanation,
        "object_url": _admin_url(use) if use else "",
        "opts": modeladmin.model._meta,
    }
    response = TemplateResponse(request, "admin/already_used.html", context, status=409)
    response["Cache-Control"] = "no-store"
    return response


def _admin_url(use: AdminFormUse) -> str:
    if not use.object_type or not use.object_id:
        return ""
    app_label, model_name = use.object_type.split(".")
    return reverse(f"admin:{app_label}_{model_name}_change", args=[use.object_id])


# --- actions that ask for a reason --------------------------------------------------------------------


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


def reason_action(
    modeladmin,
    request,
    queryset,
    *,
    form_class,
    title: str,
    apply: Callable[[Model, dict], str | None],
    form_kwargs: dict | None = None,
) -> TemplateResponse | None:
    """An admin action that first asks for a reason (and any other fields) on an intermediate page.

    ``apply(obj, cleaned_data)`` runs per selected object and returns the message that says what it
    did; domain errors are shown per object. A resubmitted page acts on objects already changed, which
    each service refuses (the state has moved on), so it changes nothing twice.
    """
    form_kwargs = form_kwargs or {}
    if "apply" in request.POST:
        form = form_class(request.POST, **form_kwargs)
        if form.is_valid():
            for obj in queryset:
                try:
                    said = apply(obj, form.cleaned_data)
                except DomainError as exc:
                    modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
                else:
                    modeladmin.message_user(request, said or gettext("%(object)s updated.") % {"object": obj})
            return None
    else:
        form = form_class(**form_kwargs)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "queryset": queryset,
        "opts": modeladmin.model._meta,
        "action": request.POST.get("action"),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/reason_action.html", context)


def audit_event_admin_url(**query) -> str:
    return f"{reverse('admin:members_auditevent_changelist')}?{urlencode(query)}"


__all__ = [
    "RECENT_EVENTS",
    "ActorLabelsMixin",
    "AuditEvent",
    "AuditLinkMixin",
    "EstimatedCountPaginator",
    "FormAlreadyUsed",
    "ReadOnlyAdminMixin",
    "ReasonForm",
    "SingleUseField",
    "already_used_response",
    "audit_events_table",
    "local_time",
    "object_type_label",
    "period_label",
    "reason_action",
    "single_use_claim",
    "single_use_done",
    "single_use_nonce",
]
