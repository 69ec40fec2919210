"""The partner registry's bodies: a partner entry, its exit, a flag on a partner and the partner's answer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from django.utils.translation import gettext_noop

from core.uscc import uscc_problem
from sharing.common.contracts import AMOUNT, REQUIRED_TEXT, Contract, Problem, date_problem, whole
from sharing.common.relief import ReliefKind
from sharing.registers.models import LicenceType, PartnerFlag, PartnerRole

MAX_LICENCES = 20
MAX_TEXT = 4_000
USCC_PATTERN = "[0-9A-HJ-NPQRTUWXY]{18}"

Uscc = Annotated[
    str,
    msgspec.Meta(
        min_length=18,
        max_length=18,
        pattern=whole(USCC_PATTERN),
        description=gettext_noop("The partner's unified social credit code (GB 32100-2015, check character included)."),
        extra={"code": "bad_uscc"},
    ),
]


def _text(max_length: int, description: str):
    return Annotated[
        str,
        msgspec.Meta(max_length=max_length, pattern=REQUIRED_TEXT, description=description, extra={"code": "bad_text"}),
    ]


LicenceNumber = _text(100, gettext_noop("The licence's number."))
Issuer = _text(200, gettext_noop("The authority that issued it."))
Name = _text(200, gettext_noop("The partner's registered name."))
ExitReason = _text(2_000, gettext_noop("Why the cooperation ended."))
FlagDescription = _text(MAX_TEXT, gettext_noop("What happened, without personal data of borrowers."))
FlagAnswer = _text(MAX_TEXT, gettext_noop("The partner's own account."))


PublicUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=500,
        pattern=whole(r"https://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?"),
        description=gettext_noop("Where you publish your list of partners (https)."),
        extra={"code": "bad_url"},
    ),
]


class Licence(msgspec.Struct, forbid_unknown_fields=True):
    """A licence of the partner, as your due diligence found it."""

    type: Annotated[Literal[tuple(LicenceType.values)], msgspec.Meta(description=gettext_noop("The kind of licence."))]
    number: LicenceNumber
    issuer: Issuer
    valid_to: Annotated[dt.date, msgspec.Meta(description=gettext_noop("The last day it is valid."))]


class PartnerFields(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What you know of a partner you work with; sending it again replaces the entry."""

    name: Name
    roles: Annotated[
        list[Literal[tuple(PartnerRole.values)]],
        msgspec.Meta(
            min_length=1,
            max_length=len(PartnerRole.values),
            description=gettext_noop("What it does for you; each once."),
            extra_json_schema={"uniqueItems": True},
        ),
    ]
    licences: Annotated[
        list[Licence],
        msgspec.Meta(max_length=MAX_LICENCES, description=gettext_noop("Its licences; [] when it needs none.")),
    ]
    due_diligence_on: Annotated[
        dt.date,
        msgspec.Meta(description=gettext_noop("The day your latest due diligence on it ended; not in the future.")),
    ]
    agreement_expires_on: Annotated[
        dt.date, msgspec.Meta(description=gettext_noop("The last day of your cooperation agreement."))
    ]
    public_list_url: PublicUrl = msgspec.UNSET


class PartnerRequest(PartnerFields, kw_only=True):
    """POST /api/v1/partners: register a partner."""

    uscc: Uscc


class PartnerExitRequest(msgspec.Struct, forbid_unknown_fields=True):
    """You stopped working with the partner on this day."""

    date: Annotated[
        dt.date, msgspec.Meta(description=gettext_noop("The day the cooperation ended; not in the future."))
    ]
    reason: ExitReason


class PartnerFlagRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A report of a partner's misconduct, for an operator to review."""

    category: Annotated[
        Literal[tuple(PartnerFlag.Category.values)], msgspec.Meta(description=gettext_noop("What it did."))
    ]
    description: FlagDescription
    evidence_sha256: Annotated[
        str,
        msgspec.Meta(
            pattern=whole("[0-9a-f]{64}"),
            description=gettext_noop(
                "SHA-256 (lowercase hex) of the evidence file you keep; the file itself stays with you."
            ),
            extra={"code": "bad_digest"},
        ),
    ]


class PartnerFlagAnswerRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The partner's answer to a flag, relayed by a member that registered it."""

    answer: FlagAnswer


def uscc_rules(uscc: str, pointer: str = "/uscc") -> list[Problem]:
    return [(pointer, "bad_uscc")] if uscc_problem(uscc) else []


def partner_fields_rules(body: PartnerFields, *, today: dt.date) -> list[Problem]:
    found: list[Problem] = []
    if len(set(body.roles)) != len(body.roles):
        found.append(("/roles", "duplicate_value"))
    seen = set()
    for index, licence in enumerate(body.licences):
        if (licence.type, licence.number) in seen:
            found.append((f"/licences/{index}", "duplicate_value"))
        seen.add((licence.type, licence.number))
    code = date_problem(body.due_diligence_on, today=today)
    if code:
        found.append(("/due_diligence_on", code))
    return found


def partner_rules(body: PartnerRequest, *, today: dt.date) -> list[Problem]:
    return uscc_rules(body.uscc) + partner_fields_rules(body, today=today)


def exit_rules(body: PartnerExitRequest, *, today: dt.date) -> list[Problem]:
    code = date_problem(body.date, today=today)
    return [("/date", code)] if code else []


_EXAMPLE_PARTNER = {
    "name": "示例助贷科技有限公司",
    "roles": ["origination_platform", "technology"],
    "licences": [{"type": "icp", "number": "京B2-20260001", "issuer": "北京市通信管理局", "valid_to": "2029-06-30"}],
    "due_diligence_on": "2026-10-15",
    "agreement_expires_on": "2027-12-31",
    "public_list_url": "https://bank.example.cn/partners",
}

PARTNER = Contract(
    PartnerRequest,
    rules=partner_rules,
    rule_codes=("bad_uscc", "duplicate_value", "future_date", "bad_date"),
    examples={"An origination platform": {"uscc": "91350100M000100Y43", **_EXAMPLE_PARTNER}},
)
PARTNER_UPDATE = Contract(
    PartnerFields,
    rules=partner_fields_rules,
    rule_codes=("duplicate_value", "future_date", "bad_date"),
    examples={"The agreement renewed": _EXAMPLE_PARTNER},
)
PARTNER_EXIT = Contract(
    PartnerExitRequest,
    rules=exit_rules,
    rule_codes=("future_date", "bad_date"),
    examples={"Agreement ended": {"date": "2026-11-30", "reason": "合作协议到期不再续签。"}},
)
PARTNER_FLAG = Contract(
    PartnerFlagRequest,
    examples={
        "Packaged applications": {
            "category": "fraud_packaging",
            "description": "2026年10月经该平台进件的申请中，多笔收入证明为同一模板伪造。",
            "evidence_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        }
    },
)
PARTNER_FLAG_ANSWER = Contract(
    PartnerFlagAnswerRequest,
    examples={"The partner's account": {"answer": "相关进件已于11月停止，涉事渠道已终止合作。"}},
)


# POST /api/v1/policies: a new version of the member's risk-policy disclosure card.
MAX_COLLECTION_POLICY = 4_000
MAX_EFFECTIVE_AHEAD = dt.timedelta(days=366)


class MultiLendingDecline(msgspec.Struct, forbid_unknown_fields=True):
    """When the member declines an applicant who already borrows elsewhere."""

    lenders: Annotated[
        int, msgspec.Meta(ge=1, le=100, description=gettext_noop("Other lenders with open loans at which you decline."))
    ]


class PostLoanMonitoring(msgspec.Struct, forbid_unknown_fields=True):
    """How the member watches its borrowers after lending."""

    watch_all_loans: Annotated[bool, msgspec.Meta(description=gettext_noop("Every open loan is under a watch."))]
    review_days: Annotated[
        int, msgspec.Meta(ge=1, le=366, description=gettext_noop("Each borrower is reviewed this often."))
    ]


MAX_RELIEF_TEXT = 2_000


class ReliefPolicy(msgspec.Struct, forbid_unknown_fields=True):
    """The relief the member offers borrowers in difficulty (主动提供债务重组或展期服务), and how to ask for it."""

    kinds: Annotated[
        list[Literal[tuple(ReliefKind.values)]],
        msgspec.Meta(
            max_length=len(ReliefKind.values),
            description=gettext_noop(
                "The kinds you offer, each once: extension, deferral, restructuring, reduced_payment; [] for none."
            ),
            extra_json_schema={"uniqueItems": True},
        ),
    ]
    offered_to: Annotated[
        str,
        msgspec.Meta(
            max_length=MAX_RELIEF_TEXT,
            pattern=REQUIRED_TEXT,
            description=gettext_noop("To whom you offer it, in plain words (e.g. borrowers 30+ days overdue)."),
            extra={"code": "bad_text"},
        ),
    ]
    how_to_ask: Annotated[
        str,
        msgspec.Meta(
            max_length=MAX_RELIEF_TEXT,
            pattern=REQUIRED_TEXT,
            description=gettext_noop(
                "How a borrower asks for it: the channel, what to bring, how long an answer takes."
            ),
            extra={"code": "bad_text"},
        ),
    ]


class PolicyCardRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Your risk-control policy, disclosed to the consortium; each version is immutable and signed."""

    max_credit_line: Annotated[
        str,
        msgspec.Meta(
            pattern=whole(AMOUNT.pattern),
            description=gettext_noop("The most credit you extend to one borrower, CNY (decimal string, ≤ 2 places)."),
            extra={"code": "bad_decimal"},
        ),
    ]
    max_annual_rate: Annotated[
        str,
        msgspec.Meta(
            pattern=whole(r"0(\.[0-9]{1,4})?|1(\.0{1,4})?"),
            description=gettext_noop('The highest annual rate you charge, all costs included, as a fraction ("0.24").'),
            extra={"code": "bad_rate"},
        ),
    ]
    multi_lending_decline: Annotated[
        MultiLendingDecline,
        msgspec.Meta(description=gettext_noop("When you decline an applicant who already borrows elsewhere.")),
    ]
    post_loan_monitoring: Annotated[
        PostLoanMonitoring, msgspec.Meta(description=gettext_noop("How you watch your borrowers after lending."))
    ]
    collection_policy: Annotated[
        str,
        msgspec.Meta(
            max_length=MAX_COLLECTION_POLICY,
            pattern=REQUIRED_TEXT,
            description=gettext_noop("How you collect overdue debts, in plain words."),
            extra={"code": "bad_text"},
        ),
    ]
    effective_from: Annotated[
        dt.date, msgspec.Meta(description=gettext_noop("From today to a year ahead; not before your current card's."))
    ]
    partner_list_url: PublicUrl = msgspec.UNSET
    relief_policy: Annotated[
        ReliefPolicy,
        msgspec.Meta(description=gettext_noop("The relief you offer borrowers in difficulty; omitted: not stated.")),
    ] = msgspec.UNSET


def policy_rules(body: PolicyCardRequest, *, today: dt.date) -> list[Problem]:
    if body.relief_policy is not msgspec.UNSET:
        kinds = body.relief_policy.kinds
        for index, kind in enumerate(kinds):
            if kind in kinds[:index]:
                return [(f"/relief_policy/kinds/{index}", "duplicate_value")]
    if body.effective_from < today:
        return [("/effective_from", "past_date")]
    if body.effective_from > today + MAX_EFFECTIVE_AHEAD:
        return [("/effective_from", "too_far_ahead")]
    return []


POLICY_CARD = Contract(
    PolicyCardRequest,
    rules=policy_rules,
    rule_codes=("past_date", "too_far_ahead", "duplicate_value"),
    examples={
        "A consumer lender's card": {
            "max_credit_line": "200000.00",
            "max_annual_rate": "0.24",
            "multi_lending_decline": {"lenders": 4},
            "post_loan_monitoring": {"watch_all_loans": True, "review_days": 30},
            "collection_policy": "逾期 3 天内短信提醒；不在 21 时至次日 8 时催收；不联系借款人以外的第三人。",
            "partner_list_url": "https://bank.example.cn/partners",
            "effective_from": "2027-01-01",
            "relief_policy": {
                "kinds": ["extension", "deferral", "restructuring"],
                "offered_to": "逾期 30 天以上或收入中断的借款人，经评估还款能力后提供。",
                "how_to_ask": "拨打客服热线或在 App 内提交申请，5 个工作日内答复。",
            },
        }
    },
)
