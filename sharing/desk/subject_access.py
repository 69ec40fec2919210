"""本人查询: the person at the desk, their identity checked, gets their own report; objects; registers protection.

The identifiers the person shows are typed into a POST form (never a URL or an access log), canonicalized and
turned into v2 tokens by the evaluator for this request only: the page never renders them back (masked forms
only), and the documents are handed over as downloads inside the answer, kept nowhere.
"""

from __future__ import annotations

import base64
import json
import re

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.errors import DomainError
from members.admin.common import FormAlreadyUsed, SingleUseField, single_use_claim, single_use_nonce
from members.audit import Actor
from sharing.protection.models import ProtectiveRegistration
from sharing.protection.selectors import registrations_active, registrations_of
from sharing.protection.services import protective_register, protective_renew, protective_withdraw
from sharing.subjects.admin import SubjectReportAdmin
from sharing.subjects.identify import DESK_TYPES, peppered, subject_identify
from sharing.subjects.models import IdentityDocument
from sharing.subjects.services import subject_objection_file, subject_report_issue
from sharing.tokens.admin import id_type_label

ACTIONS = ("report", "object", "register", "renew", "withdraw")
# One action per rendering of the form: a double click must not spend a second free report.
DESK_FORM = "subject-access"
_NUMBERS = re.compile(r"[\s,，、;；]+")


class UnechoedInput(forms.TextInput):
    """Shown while typed (the operator checks it against the document), never put back into a page."""

    def format_value(self, value):
        return None


class SubjectAccessForm(forms.Form):
    form_nonce = SingleUseField(DESK_FORM)
    document_type = forms.ChoiceField(label=_("Identity document checked"), choices=IdentityDocument.choices)
    check_reference = forms.CharField(
        label=_("Identity check reference"),
        max_length=100,
        help_text=_("The desk's own reference for the check (ticket or form number), never an ID number."),
    )
    extra_reason = forms.CharField(
        label=_("Reason for an additional report"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Only beyond the person's two free reports this year: your decision and why."),
    )
    record_numbers = forms.CharField(
        label=_("Records the person objects to"),
        required=False,
        help_text=_("Record numbers from the person's report, separated by commas."),
    )
    objection_reason = forms.CharField(
        label=_("Why the person objects"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    statement = forms.CharField(
        label=_("The person's statement (本人声明)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional; shown with the records while the dispute lasts."),
    )
    protection_reason = forms.ChoiceField(
        label=_("Why the identity is at risk"),
        required=False,
        choices=[("", "—"), *ProtectiveRegistration.Reason.choices],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The identifiers, never rendered back: even a bound form with errors does not put them in the page.
        for id_type in DESK_TYPES:
            self.fields[id_type] = forms.CharField(
                label=id_type_label(id_type),
                required=False,
                max_length=200,
                widget=UnechoedInput(attrs={"autocomplete": "off", "size": 40}),
            )
        self.order_fields(["form_nonce", "document_type", "check_reference", *DESK_TYPES])

    def identifiers(self) -> list[tuple[str, str]]:
        return [(id_type, self.cleaned_data.get(id_type) or "") for id_type in DESK_TYPES]


def _data_url(content: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode()}"


def _act(action: str, form: SubjectAccessForm, actor: Actor) -> dict:
    """Carry out one desk action; what the page shows of it (masked identifiers, numbers, documents)."""
    identifiers = subject_identify(form.identifiers())
    shown = {"masked": [(id_type_label(i.id_type), i.masked) for i in identifiers]}
    tokens = [token for _type, token in peppered(identifiers)]
    if action == "report":
        issued = subject_report_issue(
            actor=actor,
            document_type=form.cleaned_data["document_type"],
            check_reference=form.cleaned_data["check_reference"],
            identifiers=identifiers,
            extra_reason=form.cleaned_data["extra_reason"],
        )
        number = issued.report.number
        shown.update(
            report=issued.report,
            json_url=_data_url(issued.document, "application/json"),
            json_name=f"{number}.json",
            pdf_url=_data_url(issued.pdf, "application/pdf") if issued.pdf else "",
            pdf_name=f"{number}.pdf",
            pdf_problem=issued.pdf_problem,
            content=json.loads(issued.document)["report"],
        )
    elif action == "object":
        numbers = [part for part in _NUMBERS.split(form.cleaned_data["record_numbers"].strip()) if part]
        if not all(part.isdigit() for part in numbers):
            raise DomainError(gettext("Record numbers are digits, separated by commas."), code="invalid")
        disputes = subject_objection_file(
            actor=actor,
            identifiers=identifiers,
            record_numbers=[int(part) for part in numbers],
            reason=form.cleaned_data["objection_reason"],
            statement=form.cleaned_data["statement"],
        )
        shown["disputes"] = disputes
    elif action == "register":
        registration = protective_register(
            actor=actor, tokens=peppered(identifiers), reason=form.cleaned_data["protection_reason"]
        )
        shown["registration"] = registration
    else:
        found = list(registrations_active(tokens=tokens) if action == "withdraw" else registrations_of(tokens=tokens))
        found = [r for r in found if r.withdrawn_at is None]
        if not found:
            raise DomainError(gettext("No protective registration of these identifiers to change."), code="not_found")
        change = protective_withdraw if action == "withdraw" else protective_renew
        shown["registration"] = [change(actor=actor, registration_id=r.pk) for r in found][-1]
    return shown


def subject_access_view(modeladmin, request):
    if not request.user.has_perm("sharing.issue_subjectreport"):
        raise PermissionDenied
    form = SubjectAccessForm(request.POST or None, initial={"form_nonce": single_use_nonce(request, DESK_FORM)})
    outcome = None
    action = request.POST.get("action", "")
    if request.method == "POST" and action in ACTIONS and form.is_valid():
        try:
            with transaction.atomic():
                single_use_claim(request, purpose=DESK_FORM, nonce=form.cleaned_data["form_nonce"])
                outcome = _act(action, form, Actor.operator(request.user))
        except FormAlreadyUsed:
            messages.error(request, gettext("This form was already sent once; nothing was done now."))
        except DomainError as refusal:
            messages.error(request, refusal.message)
        else:
            outcome["action"] = action
        # A fresh form (a new nonce), the identifiers never rendered back; the identity check kept once an action
        # accepted it (a refused reference may be an ID number typed by mistake).
        kept = ("document_type", "check_reference") if outcome else ("document_type",)
        form = SubjectAccessForm(
            initial={"form_nonce": single_use_nonce(request, DESK_FORM), **{k: form.cleaned_data[k] for k in kept}}
        )
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": gettext("Subject access (本人查询)"),
        "form": form,
        "outcome": outcome,
        "opts": modeladmin.model._meta,
    }
    response = TemplateResponse(request, "admin/sharing/subjectreport/subject_access.html", context)
    response["Cache-Control"] = "no-store"
    return response


SubjectReportAdmin.extra_views.append(("desk/", subject_access_view, "sharing_subject_access"))
