"""The person's report as a signed JSON document (the platform's report key), labels in Chinese."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from sharing.common.relief import ReliefKind
from sharing.common.signing import sign, signing_key_fingerprint
from sharing.disputes.models import Dispute
from sharing.lookups.models import LookupPurpose
from sharing.protection.models import ProtectiveRegistration
from sharing.records.models import LoanProduct, RecordCategory, RecordKind, RecordStatus
from sharing.subjects.identify import SubjectIdentifier
from sharing.subjects.selectors import POST_LOAN_WATCH, SUBJECT_OWN
from sharing.subjects.verify import FORMAT, canonical
from sharing.tokens.admin import id_type_label

LANGUAGE = "zh-hans"


def _purpose_labels() -> dict[str, str]:
    labels = {code: str(label) for code, label in LookupPurpose.choices}
    labels[LookupPurpose.POST_LOAN_MONITORING] = _("Post-loan management (贷后管理)")
    labels[POST_LOAN_WATCH] = _("Post-loan monitoring: a watch on the person's loan")
    labels[SUBJECT_OWN] = _("The person's own inquiry (本人查询)")
    return labels


def _labelled(rows: list[dict], **choices: dict[str, str]) -> list[dict]:
    return [
        {**row, **{f"{name}_label": labels.get(row[name], row[name]) for name, labels in choices.items() if row[name]}}
        for row in rows
    ]


def subject_document(
    *, number: str, issued_at: dt.datetime, identifiers: list[SubjectIdentifier], holdings: dict[str, Any]
) -> dict[str, Any]:
    """The report's content, every code with its Chinese label beside it (the person reads the labels)."""
    with translation.override(LANGUAGE):
        kinds, categories = dict(RecordKind.choices), dict(RecordCategory.choices)
        statuses, products = dict(RecordStatus.choices), dict(LoanProduct.choices)
        reliefs = {k: str(v) for k, v in ReliefKind.choices}
        return {
            "format": FORMAT,
            "title": _("Personal information report (本人查询)"),
            "number": number,
            "issued_at": timezone.localtime(issued_at).isoformat(timespec="seconds"),
            "issuer": settings.RISKSHARE_PLATFORM_NAME,
            "identifiers": [
                {"type": i.id_type, "type_label": id_type_label(i.id_type), "masked": i.masked} for i in identifiers
            ],
            "records": _labelled(
                holdings["records"],
                kind={k: str(v) for k, v in kinds.items()},
                category={k: str(v) for k, v in categories.items()},
                status={k: str(v) for k, v in statuses.items()},
                relief=reliefs,
            ),
            "loans": _labelled(holdings["loans"], product={k: str(v) for k, v in products.items()}, relief=reliefs),
            "inquiries": _labelled(holdings["inquiries"], purpose=_purpose_labels()),
            "watchers": holdings["watchers"],
            "disputes": _labelled(holdings["disputes"], status={k: str(v) for k, v in Dispute.Status.choices}),
            "protective_registrations": _labelled(
                holdings["protective_registrations"],
                reason={k: str(v) for k, v in ProtectiveRegistration.Reason.choices},
            ),
            "objection": _(
                "If anything in this report is wrong, tell the desk which records you object to and why: the "
                "platform files a dispute for you at once, the records are marked as disputed in every lookup, "
                "and the reporting institution must check them. The platform answers within %(days)s days of "
                "receiving the objection; you may add your own statement (本人声明), shown with the records."
            )
            % {"days": settings.RISKSHARE_DISPUTE_DAYS},
            "inquiry_years": 2,
        }


def subject_document_signed(report: dict[str, Any]) -> bytes:
    """The document handed over: the report, its Ed25519 signature and the signing key's fingerprint."""
    envelope = {
        "report": report,
        "signature": base64.b64encode(sign(canonical(report))).decode(),
        "key_fingerprint": signing_key_fingerprint(),
    }
    return json.dumps(envelope, ensure_ascii=False, indent=2).encode()
