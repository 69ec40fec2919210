"""Issuing a person's own report at the desk, and filing their objections from it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.clock import business_date, business_day_start
from core.errors import DomainError
from members.audit import Actor, audit_event_record
from sharing.disputes.models import Dispute
from sharing.disputes.services import DisputeIdentifier, dispute_file
from sharing.records.models import RecordIdentifier
from sharing.subjects.document import subject_document, subject_document_signed
from sharing.subjects.identify import SubjectIdentifier, peppered
from sharing.subjects.models import IdentityDocument, SubjectReport, SubjectReportToken
from sharing.subjects.pdf import ReportFontMissing, subject_report_pdf
from sharing.subjects.selectors import subject_holdings
from sharing.tokens.pepper import pepper_tokens

FREE_PER_YEAR = 2
# A desk reference is a ticket or form number: a run this long is an ID, card or phone number typed by mistake.
_IDENTIFIER_LIKE = re.compile(r"\d{11,}|\d{17}[\dXx]")


@dataclass(repr=False)
class IssuedReport:
    """The report as handed over: the signed JSON document and its PDF (None, with ``pdf_problem``, without a font)."""

    report: SubjectReport
    document: bytes
    pdf: bytes | None
    pdf_problem: str = ""


def _check_reference(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(_("Record how the person's identity was checked (the desk's reference)."), code="required")
    if _IDENTIFIER_LIKE.search(value.replace(" ", "")):
        raise DomainError(
            _("The check reference looks like an ID, card or phone number: give the desk's own reference instead."),
            code="identifier_in_reference",
        )
    return value


def _tokens_lock(tokens: list[bytes]) -> None:
    # Two desks serving the same person at once count their free reports one after the other.
    with connection.cursor() as cursor:
        for token in sorted(set(tokens)):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(encode(%s::bytea, 'hex'), 34))", [token])


def free_reports_used(*, tokens: list[bytes], now=None) -> int:
    """The person's free reports this calendar year (China), found under any of their identifiers."""
    now = now or timezone.now()
    year_start = business_day_start(business_date(now).replace(month=1, day=1))
    return (
        SubjectReport.objects.filter(
            pk__in=SubjectReportToken.objects.filter(token__in=tokens).values("report_id"),
            free=True,
            issued_at__gte=year_start,
        )
        .distinct()
        .count()
    )


def subject_report_issue(
    *,
    actor: Actor,
    document_type: str,
    check_reference: str,
    identifiers: list[SubjectIdentifier],
    extra_reason: str = "",
) -> IssuedReport:
    """Issue the person's report: two free a year, more by the operator's decision with a reason; audited."""
    if document_type not in IdentityDocument.values:
        raise DomainError(_("Choose the identity document the person showed."), code="required")
    check_reference = _check_reference(check_reference)
    extra_reason = (extra_reason or "").strip()
    pairs = peppered(identifiers)
    tokens = [token for _type, token in pairs]
    now = timezone.now()
    with transaction.atomic():
        _tokens_lock(tokens)
        used = free_reports_used(tokens=tokens, now=now)
        free = used < FREE_PER_YEAR
        if not free and not extra_reason:
            raise DomainError(
                _(
                    "This person has had their %(free)s free reports this year. Another one needs your decision: "
                    "give the reason."
                )
                % {"free": FREE_PER_YEAR},
                code="free_reports_used",
            )
        report = SubjectReport.objects.create(
            issued_at=now,
            issued_by=actor.label,
            document_type=document_type,
            check_reference=check_reference,
            free=free,
            extra_reason="" if free else extra_reason,
            digest="",
        )
        SubjectReportToken.objects.bulk_create(
            SubjectReportToken(report=report, id_type=id_type, token=token) for id_type, token in sorted(set(pairs))
        )
        holdings = subject_holdings(tokens=tokens, now=now, exclude_report=report.pk)
        content = subject_document(number=report.number, issued_at=now, identifiers=identifiers, holdings=holdings)
        document = subject_document_signed(content)
        report.digest = hashlib.sha256(document).hexdigest()
        report.save(update_fields=["digest"])
        audit_event_record(
            actor=actor,
            action="subject.report_issued",
            obj=report,
            payload={
                "number": report.number,
                "document_type": document_type,
                "check_reference": check_reference,
                "identifier_types": sorted({i.id_type for i in identifiers}),
                "free": free,
                "extra_reason": report.extra_reason,
                "records": len(holdings["records"]),
                "loans": len(holdings["loans"]),
                "inquiries": len(holdings["inquiries"]),
                "watchers": len(holdings["watchers"]),
                "disputes": len(holdings["disputes"]),
                "digest": report.digest,
            },
        )
    try:
        pdf, problem = subject_report_pdf(content), ""
    except ReportFontMissing as exc:
        pdf, problem = None, exc.message
    return IssuedReport(report=report, document=document, pdf=pdf, pdf_problem=problem)


def subject_objection_file(
    *, actor: Actor, identifiers: list[SubjectIdentifier], record_numbers: list[int], reason: str, statement: str = ""
) -> list[Dispute]:
    """One dispute per record the person marks, filed by the platform through the members' dispute flow."""
    if not record_numbers:
        raise DomainError(_("Mark at least one record of the report to object to."), code="required")
    versions = sorted({version for identifier in identifiers for version in identifier.tokens}, reverse=True)
    by_version = {
        version: [
            (identifier, token) for identifier in identifiers if (token := identifier.tokens.get(version)) is not None
        ]
        for version in versions
    }
    disputes = []
    with transaction.atomic():
        for number in sorted(set(record_numbers)):
            for version in versions:
                pairs = by_version[version]
                held = RecordIdentifier.objects.filter(
                    record_id=number, token__in=pepper_tokens([token for _identifier, token in pairs])
                ).exists()
                if held:
                    break
            else:
                raise DomainError(
                    _("Record %(number)s is not one of this person's records.") % {"number": number},
                    code="not_the_persons_record",
                )
            disputes.append(
                dispute_file(
                    credential=None,
                    desk_operator=actor,
                    identifiers=[DisputeIdentifier(type=i.id_type, token=token) for i, token in pairs],
                    key_version=version,
                    reason=reason,
                    statement=statement,
                    record_id=number,
                )
            )
    return disputes
