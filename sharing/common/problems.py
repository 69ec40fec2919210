"""The problem codes sharing's operations answer, in the API's one registry (core.openapi).

A field's code (``bad_token``, ``required``…) is also the answer's ``code`` when it is the request's
only problem; their meanings are the messages the answers carry (``sharing.common.contracts.MESSAGES``).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import Throttled

from core import errors as domain
from core.openapi import PROBLEM_CODES, problem_code, register_problems, with_parameter
from sharing.common.contracts import MESSAGES

register_problems(
    problem_code(
        "idempotency_key_required",
        domain.DomainError,
        _("The Idempotency-Key header is missing, or not 1–255 visible ASCII characters."),
        with_parameter("Idempotency-Key"),
    ),
    problem_code(
        "idempotency_key_reused",
        domain.IdempotencyKeyReused,
        _("This Idempotency-Key came earlier with a different body; use a new key for a new request."),
        with_parameter("Idempotency-Key"),
    ),
    problem_code(
        "request_in_flight",
        domain.ConflictError,
        _("A request with this Idempotency-Key is still being processed; retry later."),
        with_parameter("Idempotency-Key"),
    ),
    problem_code(
        "invalid_cursor",
        domain.DomainError,
        _("The cursor is not one the API gave; start again without it."),
        with_parameter("cursor"),
    ),
    problem_code(
        "bad_page_size",
        domain.DomainError,
        _("page_size is not a whole number within the operation's range."),
        with_parameter("page_size"),
    ),
    problem_code("throttled", Throttled, _("A request limit was reached; retry after `Retry-After` seconds.")),
    problem_code("record_not_active", domain.ConflictError, _("Only an active or disputed record can be resolved.")),
    problem_code("already_retracted", domain.ConflictError, _("The record is already retracted.")),
    problem_code("nothing_to_dispute", domain.DomainError, _("No standing record carries these identifiers.")),
    problem_code(
        "already_registered",
        domain.ConflictError,
        _("A protective registration in force already covers these identifiers."),
    ),
    problem_code("watch_limit", domain.ConflictError, _("The member has reached its limit of watches.")),
    problem_code(
        "url_not_allowed",
        domain.DomainError,
        _("The webhook URL is not HTTPS, or resolves to an address that is not public."),
    ),
    problem_code("partner_exists", domain.ConflictError, _("You already registered this partner; use PUT.")),
    problem_code("partner_exited", domain.ConflictError, _("The partnership ended; register the partner again.")),
    problem_code("answer_closed", domain.ConflictError, _("The flag was answered or reviewed, or its 20 days passed.")),
    problem_code(
        "effective_before_current",
        domain.ConflictError,
        _("A new card version may not take effect before the latest one."),
    ),
    problem_code("invalid", domain.DomainError, _("This value is not valid.")),
    problem_code("index_out_of_range", domain.DomainError, _("The leaf's index is not below the tree size.")),
    problem_code(
        "beyond_log",
        domain.DomainError,
        _("The log is not that large yet; ask for the tree size of a checkpoint."),
    ),
    problem_code("sizes_out_of_order", domain.DomainError, _("first must be at least 1 and at most second.")),
    problem_code(
        "receipt_pending",
        domain.ConflictError,
        _("The batch's changes are not in a signed checkpoint yet; ask again in a minute."),
    ),
)
# The field codes, as the code of a 400 when a field is the request's only problem. ``watch_limit`` is
# also a watch's code in the errors of a watches answer; as a problem document it is the 409 above.
register_problems(
    *(
        problem_code(code, domain.InvalidBody, message)
        for code, message in MESSAGES.items()
        if code not in PROBLEM_CODES
    )
)
