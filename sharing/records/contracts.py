"""POST /api/v1/batches: ``{"records": [record, …]}``, each record validated on its own.

A record is one of a union tagged by ``category``: every category has its variant, whose ``kind``
is the category's kind; only ``overdue`` has (and needs) ``overdue_days``, ``overdue_amount``,
``currency`` and ``product``, and only ``open`` (kind ``loan``, an open credit facility) has
``credit_limit``, ``outstanding_balance``, ``currency``, ``product`` and ``maturity_date``; loans and
delinquencies (``overdue``, ``written_off``) have the relief fields (``ReliefFields``). A field of another
variant is ``not_allowed``. The whole body is decoded against the Struct in one pass (msgspec,
in C); when that refuses it, the body is loaded as plain JSON and each record is checked on its own,
so that the answer lists every record's problems ``{"index", "field", "code", "message"}`` and the
valid ones are still stored.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, NamedTuple, Union

import msgspec
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from core.errors import BodyTooLarge
from sharing.common.contracts import (
    AMOUNT,
    EXAMPLE_TOKENS,
    REFERENCE,
    REQUIRED_TEXT,
    TOO_MANY,
    Contract,
    Problem,
    date_problem,
    invalid_body,
    json_load,
    problems,
    record_error,
    whole,
)
from sharing.common.relief import ReliefKind
from sharing.records.models import CATEGORIES_BY_KIND, LoanProduct, RecordCategory
from sharing.records.relief import relief_problems
from sharing.registers.contracts import USCC_PATTERN
from sharing.tokens.contracts import (
    MAX_IDENTIFIERS,
    Identifiers,
    KeyVersion,
    duplicate_types,
    key_version_problems,
    tokens_malformed,
)

MAX_RECORDS = 10_000
MAX_OVERDUE_DAYS = 36_500  # a hundred years: beyond it a count of days is a mistake


_REFERENCE_CHARACTERS = re.compile("[A-Za-z0-9._:-]*")


class RecordFields(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="category", gc=False):
    # Like a token's, its characters are checked for the whole batch at once (batch_parse).
    reference: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=64,
            extra_json_schema={"pattern": whole(REFERENCE.pattern)},
            description=gettext_noop("Your own id, unique among your records."),
        ),
    ]
    identifiers: Annotated[
        Identifiers, msgspec.Meta(max_length=MAX_IDENTIFIERS, description=gettext_noop("Each type once."))
    ]
    key_version: KeyVersion
    event_date: Annotated[dt.date, msgspec.Meta(description=gettext_noop("Not in the future (China's calendar day)."))]
    resolved_date: Annotated[
        dt.date,
        msgspec.Meta(description=gettext_noop("Not in the future, not before event_date; makes the record resolved.")),
    ] = msgspec.UNSET
    origination_partner: Annotated[
        str,
        msgspec.Meta(
            min_length=18,
            max_length=18,
            pattern=whole(USCC_PATTERN),
            description=gettext_noop(
                "The USCC of the origination platform (助贷平台) the loan came through: a partner you "
                "registered with the role origination_platform."
            ),
            extra={"code": "bad_uscc"},
        ),
    ] = msgspec.UNSET


class ReliefFields(RecordFields, kw_only=True):
    """The record kinds a relief arrangement may be reported on: open loans and delinquencies.

    ``relief`` names the arrangement, ``relief_start`` (required with it) the day it began,
    ``relief_end`` the day it ended (the arrangement runs until then, or until the record is resolved),
    and an extension its ``new_maturity_date``. Re-sending the record re-states the arrangement.
    """

    relief: Annotated[
        Literal[tuple(ReliefKind.values)],
        msgspec.Meta(
            description=gettext_noop(
                "Relief agreed with the borrower: extension (展期), deferral (延期还款), restructuring "
                "(债务重组) or reduced_payment."
            )
        ),
    ] = msgspec.UNSET
    relief_start: Annotated[
        dt.date,
        msgspec.Meta(
            description=gettext_noop("The day the arrangement began: not in the future, not before event_date.")
        ),
    ] = msgspec.UNSET
    relief_end: Annotated[
        dt.date,
        msgspec.Meta(
            description=gettext_noop("The day the arrangement ended: not in the future, not before relief_start.")
        ),
    ] = msgspec.UNSET
    new_maturity_date: Annotated[
        dt.date,
        msgspec.Meta(
            description=gettext_noop(
                "An extension's new maturity date (required with it, for it only): after relief_start and after "
                "the loan's maturity_date."
            )
        ),
    ] = msgspec.UNSET


class OverdueFields(ReliefFields, kw_only=True):
    overdue_days: Annotated[
        int, msgspec.Meta(ge=1, le=MAX_OVERDUE_DAYS, description=gettext_noop("Days since the first missed payment."))
    ]
    overdue_amount: Annotated[
        str,
        msgspec.Meta(
            pattern=whole(AMOUNT.pattern),
            description=gettext_noop("A decimal string ≥ 0, CNY."),
            extra={"code": "bad_decimal"},
        ),
    ]
    currency: Annotated[Literal["CNY"], msgspec.Meta(description=gettext_noop("The amount's currency."))]
    product: Annotated[Literal[tuple(LoanProduct.values)], msgspec.Meta(description=gettext_noop("The loan product."))]


Amount = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(AMOUNT.pattern),
        description=gettext_noop("A decimal string ≥ 0, CNY."),
        extra={"code": "bad_decimal"},
    ),
]


class LoanFields(ReliefFields, kw_only=True):
    """An open credit facility (exposure, 共债): re-send it by its reference at least monthly with its balance.

    ``event_date`` is the day it was opened; ``resolved_date`` closes it (closed loans stop counting).
    """

    credit_limit: Annotated[
        Amount, msgspec.Meta(description=gettext_noop("The facility's credit limit: a decimal string ≥ 0, CNY."))
    ]
    outstanding_balance: Annotated[
        Amount,
        msgspec.Meta(description=gettext_noop("What is owed today: a decimal string ≥ 0, CNY; may exceed the limit.")),
    ]
    currency: Annotated[Literal["CNY"], msgspec.Meta(description=gettext_noop("The amounts' currency."))]
    product: Annotated[Literal[tuple(LoanProduct.values)], msgspec.Meta(description=gettext_noop("The loan product."))]
    maturity_date: Annotated[
        dt.date,
        msgspec.Meta(description=gettext_noop("When the facility ends; not before event_date, may be in the future.")),
    ] = msgspec.UNSET


_BASES: dict[str, type[RecordFields]] = {
    RecordCategory.OVERDUE: OverdueFields,
    RecordCategory.OPEN: LoanFields,
    RecordCategory.WRITTEN_OFF: ReliefFields,
}


def _variant(kind: str, category: str) -> type[RecordFields]:
    name = "".join(part.title() for part in category.split("_")) + "Record"
    base = _BASES.get(category, RecordFields)
    kind_field = Annotated[Literal[str(kind)], msgspec.Meta(description=gettext_noop("The category's kind."))]
    return msgspec.defstruct(name, [("kind", kind_field)], bases=(base,), tag=str(category), kw_only=True)


RECORD_VARIANTS = tuple(
    _variant(kind, category) for kind, categories in CATEGORIES_BY_KIND.items() for category in sorted(categories)
)
Record = Union[RECORD_VARIANTS]  # noqa: UP007 - a union built from a tuple


CATEGORY_OF = {variant: variant.__struct_config__.tag for variant in RECORD_VARIANTS}
_RECORDS = msgspec.Meta(min_length=1, max_length=MAX_RECORDS, extra={"code": TOO_MANY})


class BatchRequest(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """1–10,000 records; each valid one is stored, each invalid one listed in the answer's errors."""

    records: Annotated[list[Record], _RECORDS, msgspec.Meta(description=gettext_noop("1–10,000 records."))]


# The same body with each record left undecoded, to decode them one by one when the whole does not.
_RawBatch = msgspec.defstruct(
    "BatchRequest", [("records", Annotated[list[msgspec.Raw], _RECORDS])], forbid_unknown_fields=True
)


class ValidRecord(NamedTuple):
    """A record that passed, as the submission service writes it."""

    index: int
    reference: str
    kind: str
    category: str
    event_date: dt.date
    resolved_date: dt.date | None
    overdue_days: int | None
    overdue_amount: str | None
    currency: str
    product: str
    key_version: int
    identifiers: list[tuple[str, str]]
    credit_limit: str | None = None
    outstanding_balance: str | None = None
    maturity_date: dt.date | None = None
    origination_partner: str = ""
    relief: str = ""
    relief_start: dt.date | None = None
    relief_end: dt.date | None = None
    new_maturity_date: dt.date | None = None


def record_rules(
    record: RecordFields,
    *,
    today: dt.date,
    min_date: dt.date,
    current_versions: frozenset[int],
    retired_versions: frozenset[int],
    characters_checked: bool = False,
    origination_partners: Callable[[], frozenset[str]] = frozenset,
) -> list[Problem]:
    """What the types alone cannot say about one record (with its reference's and tokens' characters, unless
    ``characters_checked`` for the whole batch already)."""
    found: list[Problem] = []
    if not characters_checked:
        if REFERENCE.fullmatch(record.reference) is None:
            found.append(("/reference", "bad_format"))
        found.extend(tokens_malformed(record.identifiers))
    found.extend(key_version_problems(record.key_version, current_versions, retired_versions))
    found.extend(duplicate_types(record.identifiers))
    code = date_problem(record.event_date, today=today, min_date=min_date)
    if code:
        found.append(("/event_date", code))
    if record.resolved_date is not msgspec.UNSET:
        code = date_problem(record.resolved_date, today=today, min_date=min_date)
        if code is None and record.resolved_date < record.event_date:
            code = "date_order"
        if code:
            found.append(("/resolved_date", code))
    if record.origination_partner is not msgspec.UNSET and record.origination_partner not in origination_partners():
        found.append(("/origination_partner", "unknown_partner"))
    if isinstance(record, LoanFields) and record.maturity_date is not msgspec.UNSET:
        if record.maturity_date < min_date:
            found.append(("/maturity_date", "bad_date"))
        elif record.maturity_date < record.event_date:
            found.append(("/maturity_date", "maturity_order"))
    if isinstance(record, ReliefFields):
        found.extend(relief_problems(record, today=today, min_date=min_date))
    return found


def _valid(index: int, record: RecordFields) -> ValidRecord:
    resolved = None if record.resolved_date is msgspec.UNSET else record.resolved_date
    loan: tuple = ()
    if isinstance(record, OverdueFields):
        overdue = (record.overdue_days, record.overdue_amount, record.currency, record.product)
    elif isinstance(record, LoanFields):
        overdue = (None, None, record.currency, record.product)
        maturity = None if record.maturity_date is msgspec.UNSET else record.maturity_date
        loan = (record.credit_limit, record.outstanding_balance, maturity)
    else:
        overdue = (None, None, "", "")
    relief: tuple = ()
    if isinstance(record, ReliefFields) and record.relief is not msgspec.UNSET:
        relief = (
            record.relief,
            record.relief_start,
            None if record.relief_end is msgspec.UNSET else record.relief_end,
            None if record.new_maturity_date is msgspec.UNSET else record.new_maturity_date,
        )
    return ValidRecord(
        index,
        record.reference,
        record.kind,
        CATEGORY_OF[type(record)],
        record.event_date,
        resolved,
        *overdue,
        record.key_version,
        [(identifier.type, identifier.token) for identifier in record.identifiers],
        *(loan or (None, None, None)),
        "" if record.origination_partner is msgspec.UNSET else record.origination_partner,
        *(relief or ("", None, None, None)),
    )


class BatchCheck(NamedTuple):
    received: int
    valid: list[ValidRecord]
    errors: list[dict[str, Any]]  # {"index", "field", "code", "message"}, by index


_decoder = msgspec.json.Decoder(BatchRequest)
_raw_decoder = msgspec.json.Decoder(_RawBatch)
_record_decoder = msgspec.json.Decoder(Record)
_NOT_DECODED = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def batch_parse(
    body: bytes,
    *,
    today: dt.date,
    current_versions: frozenset[int],
    retired_versions: frozenset[int],
    origination_partners: Callable[[], frozenset[str]] = frozenset,
) -> BatchCheck:
    """Every record checked: the valid ones, and every problem of the others.

    ``origination_partners``: the USCCs a record may name as its ``origination_partner`` (the member's
    active partners with the role origination_platform), asked for once, and only if a record names one.

    A body that is not a batch at all (not JSON, not an object, no ``records`` list, none or more
    than 10,000 records) raises instead: ``MalformedBody``, ``InvalidBody``, ``BodyTooLarge``.
    """
    try:
        records: list[Any] = _decoder.decode(body).records
        typed = True
    except _NOT_DECODED:
        records = _records_of(body)
        typed = False
    valid, errors = rows_checked(
        records,
        typed=typed,
        decoder=_record_decoder,
        of=Record,
        rules=record_rules,
        valid_of=_valid,
        today=today,
        min_date=settings.RISKSHARE_MIN_DATE,
        current_versions=current_versions,
        retired_versions=retired_versions,
        origination_partners=functools.cache(origination_partners),
    )
    return BatchCheck(len(records), valid, errors)


def rows_checked(
    rows: list[Any],
    *,
    typed: bool,
    decoder: msgspec.json.Decoder,
    of: Any,
    rules: Callable[..., list[Problem]],
    valid_of: Callable[[int, Any], Any],
    **context: Any,
) -> tuple[list[Any], list[dict[str, Any]]]:
    """The rows of a list checked one by one (a batch's records, a request's watches): ``(valid, errors)``.

    ``typed``: the rows came decoded with the body; otherwise each is decoded here, and one that does
    not decode has every problem named against ``of``. ``rules(row, characters_checked=…, **context)``
    says what the types cannot; a reference earlier in the list is ``duplicate_reference``. Rows that
    all decoded have their references' and tokens' characters checked in one pass each; otherwise each
    row's rules check its own.
    """
    characters_checked = (
        typed
        and _REFERENCE_CHARACTERS.fullmatch("".join([row.reference for row in rows])) is not None
        and not tokens_malformed([identifier for row in rows for identifier in row.identifiers])
    )
    valid: list[Any] = []
    errors: list[dict[str, Any]] = []
    references: set[str] = set()
    for index, row in enumerate(rows):
        if not typed:
            try:
                row = decoder.decode(row)
            except _NOT_DECODED:
                found = problems(json_load(bytes(row)), of) or [("", "invalid_type")]
                errors.extend(record_error(index, field, code) for field, code in found)
                continue
        found = rules(row, characters_checked=characters_checked, **context)
        if row.reference in references:
            found.append(("/reference", "duplicate_reference"))
        if found:
            errors.extend(record_error(index, field, code) for field, code in found)
            continue
        references.add(row.reference)
        valid.append(valid_of(index, row))
    return valid, errors


def _records_of(body: bytes) -> list[msgspec.Raw]:
    """The records of a body that did not decode whole, each undecoded; the body's own problems raise."""
    try:
        return _raw_decoder.decode(body).records
    except _NOT_DECODED:
        document = json_load(body)
    records = document.get("records") if type(document) is dict else None
    if type(records) is list and len(records) > MAX_RECORDS:
        raise BodyTooLarge(_("A batch holds at most %(max)d records.") % {"max": MAX_RECORDS})
    # The body's own problems, its records aside.
    found = problems({**document, "records": []} if type(records) is list else document, BatchRequest)
    if type(records) is list and records:  # a list of an allowed length, standing in as empty
        found.remove(("/records", "bad_count"))
    raise invalid_body(found or [("", "invalid_type")])


BATCH = Contract(
    BatchRequest,
    items_answered=True,
    examples={
        "A blacklist record and an overdue loan": {
            "records": [
                {
                    "reference": "FRAUD-2026-0001",
                    "kind": "blacklist",
                    "category": "identity_fraud",
                    "identifiers": [
                        {
                            "type": "cn_resident_id",
                            "token": EXAMPLE_TOKENS[0],
                        }
                    ],
                    "key_version": 1,
                    "event_date": "2026-03-01",
                },
                {
                    "reference": "LOAN-77-0042",
                    "kind": "delinquency",
                    "category": "overdue",
                    "identifiers": [
                        {
                            "type": "cn_resident_id",
                            "token": EXAMPLE_TOKENS[1],
                        },
                        {
                            "type": "cn_mobile",
                            "token": EXAMPLE_TOKENS[2],
                        },
                    ],
                    "key_version": 1,
                    "event_date": "2026-06-10",
                    "overdue_days": 45,
                    "overdue_amount": "1200.50",
                    "currency": "CNY",
                    "product": "consumer_loan",
                },
            ]
        },
        "An open loan, re-sent monthly with its balance": {
            "records": [
                {
                    "reference": "LINE-2026-0311",
                    "kind": "loan",
                    "category": "open",
                    "identifiers": [{"type": "cn_resident_id", "token": EXAMPLE_TOKENS[0]}],
                    "key_version": 1,
                    "event_date": "2026-11-20",
                    "credit_limit": "50000.00",
                    "outstanding_balance": "20000.00",
                    "currency": "CNY",
                    "product": "credit_line",
                    "maturity_date": "2027-11-19",
                }
            ]
        },
        "Relief: an extension on a loan, a deferral on a delinquency": {
            "records": [
                {
                    "reference": "LINE-2026-0311",
                    "kind": "loan",
                    "category": "open",
                    "identifiers": [{"type": "cn_resident_id", "token": EXAMPLE_TOKENS[0]}],
                    "key_version": 1,
                    "event_date": "2026-05-20",
                    "credit_limit": "50000.00",
                    "outstanding_balance": "42000.00",
                    "currency": "CNY",
                    "product": "credit_line",
                    "maturity_date": "2026-11-19",
                    "relief": "extension",
                    "relief_start": "2026-11-10",
                    "new_maturity_date": "2027-05-19",
                },
                {
                    "reference": "LOAN-77-0042",
                    "kind": "delinquency",
                    "category": "overdue",
                    "identifiers": [{"type": "cn_resident_id", "token": EXAMPLE_TOKENS[1]}],
                    "key_version": 1,
                    "event_date": "2026-09-10",
                    "overdue_days": 45,
                    "overdue_amount": "1200.50",
                    "currency": "CNY",
                    "product": "consumer_loan",
                    "relief": "deferral",
                    "relief_start": "2026-10-25",
                },
            ]
        },
    },
)


# POST /api/v1/records/{reference}/resolve and /retract.
class ResolveRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The adverse event ended (the debt was repaid) on this day."""

    resolved_date: Annotated[
        dt.date, msgspec.Meta(description=gettext_noop("Not in the future, not before the event date."))
    ]


def resolve_rules(request: ResolveRequest, *, today: dt.date) -> list[Problem]:
    code = date_problem(request.resolved_date, today=today)
    return [("/resolved_date", code)] if code else []


class RetractRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Withdraw a record reported in error."""

    reason: Annotated[
        str,
        msgspec.Meta(
            max_length=2_000,
            pattern=REQUIRED_TEXT,
            extra={"code": "bad_text"},
            description=gettext_noop("Why the record is withdrawn; kept with it."),
        ),
    ]


RESOLVE = Contract(
    ResolveRequest,
    rules=resolve_rules,
    rule_codes=("future_date", "bad_date"),
    examples={"Repaid": {"resolved_date": "2026-11-20"}},
)
RETRACT = Contract(RetractRequest, examples={"Wrong person": {"reason": "Reported in error."}})
