"""POST /api/v1/policies: a new version of the member's risk-policy disclosure card."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from django.utils.translation import gettext_noop

from sharing.contracts.base import REQUIRED_TEXT, Contract, Problem, whole
from sharing.contracts.batches import AMOUNT
from sharing.contracts.partners import PublicUrl

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


def policy_rules(body: PolicyCardRequest, *, today: dt.date) -> list[Problem]:
    if body.effective_from < today:
        return [("/effective_from", "past_date")]
    if body.effective_from > today + MAX_EFFECTIVE_AHEAD:
        return [("/effective_from", "too_far_ahead")]
    return []


POLICY_CARD = Contract(
    PolicyCardRequest,
    rules=policy_rules,
    rule_codes=("past_date", "too_far_ahead"),
    examples={
        "A consumer lender's card": {
            "max_credit_line": "200000.00",
            "max_annual_rate": "0.24",
            "multi_lending_decline": {"lenders": 4},
            "post_loan_monitoring": {"watch_all_loans": True, "review_days": 30},
            "collection_policy": "逾期 3 天内短信提醒；不在 21 时至次日 8 时催收；不联系借款人以外的第三人。",
            "partner_list_url": "https://bank.example.cn/partners",
            "effective_from": "2027-01-01",
        }
    },
)
