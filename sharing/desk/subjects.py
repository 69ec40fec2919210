"""Subject search: who reported a person, what is summarised, disputed, and who looked the person up.

The operator types the token a member sent (64 hex); it is peppered here and never stored, logged or
echoed: the form is a POST (no token in a URL or an access log), the page never renders it back, and
the audit event names only the peppered token's short form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.audit import Actor, audit_event_record, audit_labels_register
from sharing.disputes.models import Dispute, DisputedRecord, DisputeToken
from sharing.lookups.admin import LookupAdmin
from sharing.lookups.models import Lookup, LookupEntry
from sharing.records.models import Record, RecordCategory, RecordIdentifier, TokenSummary
from sharing.tokens.admin import id_type_choices, id_type_label, short_token
from sharing.tokens.pepper import pepper_token

LOOKUPS_SHOWN = 500
_TOKEN = re.compile(r"^[0-9a-f]{64}$")


class SubjectSearchForm(forms.Form):
    id_type = forms.ChoiceField(label=_("Identifier type"), choices=id_type_choices)
    token = forms.CharField(
        label=_("Token"),
        max_length=64,
        min_length=64,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 70}),
        help_text=_("The 64-hex token the member computed with the consortium key (never the raw identifier)."),
    )

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].lower()
        if not _TOKEN.fullmatch(token):
            raise forms.ValidationError(_("A token is 64 hexadecimal characters."))
        return token


@dataclass
class SubjectFindings:
    short: str
    id_type: str
    summary: TokenSummary | None
    records: list[dict]
    disputes: list[Dispute]
    lookups: list[Lookup]
    lookups_total: int

    @property
    def categories(self) -> str:
        labels = dict(RecordCategory.choices)
        return "、".join(str(labels.get(c, c)) for c in self.summary.blacklist_categories) if self.summary else ""


def subject_find(*, id_type: str, peppered: bytes) -> SubjectFindings:
    """Everything the platform holds about one peppered token (operators may see reporting members)."""
    record_ids = list(
        RecordIdentifier.objects.filter(token=peppered, id_type=id_type).values_list("record_id", flat=True)
    )
    records = Record.objects.filter(pk__in=record_ids).select_related("member").order_by("-updated_at")
    tokens: dict[int, list[str]] = {}
    for record_id, other_type, token in RecordIdentifier.objects.filter(record_id__in=record_ids).values_list(
        "record_id", "id_type", "token"
    ):
        tokens.setdefault(record_id, []).append(f"{id_type_label(other_type)}: {short_token(token)}")
    dispute_ids = set(DisputeToken.objects.filter(token=peppered).values_list("dispute_id", flat=True))
    dispute_ids |= set(DisputedRecord.objects.filter(record_id__in=record_ids).values_list("dispute_id", flat=True))
    lookup_ids = LookupEntry.objects.filter(token=peppered).values_list("lookup_id", flat=True)
    lookups_total = lookup_ids.count()
    lookups = list(
        Lookup.objects.filter(pk__in=list(lookup_ids.order_by("-lookup_id")[:LOOKUPS_SHOWN]))
        .defer("answer")
        .select_related("member", "credential")
        .order_by("-created_at")
    )
    return SubjectFindings(
        short=short_token(peppered),
        id_type=id_type,
        summary=TokenSummary.objects.filter(token=peppered).first(),
        records=[{"record": record, "tokens": tokens.get(record.pk, [])} for record in records],
        disputes=list(Dispute.objects.filter(pk__in=dispute_ids).select_related("member").order_by("-received_at")),
        lookups=lookups,
        lookups_total=lookups_total,
    )


def subject_search_view(modeladmin, request):
    if not request.user.has_perm("sharing.search_subject"):
        raise PermissionDenied
    findings = None
    form = SubjectSearchForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        id_type = form.cleaned_data["id_type"]
        peppered = pepper_token(form.cleaned_data["token"])
        with transaction.atomic():
            findings = subject_find(id_type=id_type, peppered=peppered)
            audit_event_record(
                actor=Actor.operator(request.user),
                action="subject.searched",
                payload={
                    "id_type": id_type,
                    "token": findings.short,
                    "records": len(findings.records),
                    "lookups": findings.lookups_total,
                },
            )
        # A fresh, empty form: the typed token is not rendered back.
        form = SubjectSearchForm(initial={"id_type": id_type})
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": gettext("Subject search"),
        "form": form,
        "findings": findings,
        "id_type_label": id_type_label(findings.id_type) if findings else "",
        "lookups_shown": LOOKUPS_SHOWN,
        "opts": modeladmin.model._meta,
    }
    response = TemplateResponse(request, "admin/sharing/lookup/subject_search.html", context)
    response["Cache-Control"] = "no-store"
    return response


# What operators read for this package's audit action codes (stored in English: they are hashed into the
# audit chain).
audit_labels_register(
    actions={
        "subject.searched": _("Subject searched by an operator"),
    },
)


# Mounted under the lookups' changelist, where operators look for it (admin:sharing_subject_search).
LookupAdmin.extra_views.append(("subject/", subject_search_view, "sharing_subject_search"))
