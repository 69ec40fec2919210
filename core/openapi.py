"""How the API documents itself: the problem codes of each operation, headers, and the languages.

One registry, ``PROBLEM_CODES``, holds every problem ``code`` a client can receive, with its
status and meaning. A code that only some operations answer is named by them
(``extend_schema(extensions=problems("record_not_active"))``); a code that every operation of a
kind answers (any authenticated call, any JSON body, any cursor page) is registered with the
predicate that says where it applies, so no view repeats it. The postprocessing hook
``problems_documented`` turns them into one response per status, with the codes listed, one example
problem document each, and ``Retry-After`` where the answer carries it. tests/test_openapi.py holds
the registry honest: a problem an operation answers in the test suite must be documented there.

Every description and summary of the schema is translated into the request's language last
(``descriptions_translated``): English or, with ``Accept-Language: zh-hans``, Chinese.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiExample
from rest_framework import exceptions

from core import errors as domain
from core.api import _TITLES, DOMAIN_PROBLEMS, PROBLEM_CONTENT_TYPE

Operation = dict[str, Any]

PROBLEM_REF = "#/components/schemas/Problem"


@dataclass(frozen=True)
class ProblemCode:
    code: str
    status: int
    title: str  # the English title of the answer (translated when it is answered)
    description: str  # when it is answered, for the schema's readers
    applies: Callable[[Operation], bool] | None = None  # None: only where an operation names it


PROBLEM_CODES: dict[str, ProblemCode] = {}


def problem_code(
    code: str,
    raised: type[Exception] | tuple[int, str],
    description: str,
    applies: Callable[[Operation], bool] | None = None,
) -> ProblemCode:
    """A code, and what raises it: a domain error class, a DRF exception class, or (status, title)."""
    if isinstance(raised, tuple):
        status, title = raised
    elif issubclass(raised, domain.DomainError):
        status, title = next((status, title) for cls, status, title in DOMAIN_PROBLEMS if issubclass(raised, cls))
    else:
        status, title = raised.status_code, _TITLES[raised.default_code]
    return ProblemCode(code, status, title, description, applies)


def register_problems(*codes: ProblemCode) -> None:
    for entry in codes:
        known = PROBLEM_CODES.setdefault(entry.code, entry)
        if known.status != entry.status:  # one code, one status: clients branch on the pair
            raise ValueError(f"problem code {entry.code!r} registered with statuses {known.status} and {entry.status}")


def problems(*codes: str) -> dict[str, list[str]]:
    """``extend_schema(extensions=...)``: the problem codes this operation answers beyond its kind's."""
    return {"x-problems": list(codes)}


# --- where a kind of code applies ------------------------------------------------------------


def authenticated(operation: Operation) -> bool:
    return bool(operation.get("security"))


def always(operation: Operation) -> bool:
    return True


def with_body(operation: Operation) -> bool:
    return "requestBody" in operation


def with_input(operation: Operation) -> bool:
    """A body, or a query parameter that is checked as a field (cursors and page sizes have codes of their own)."""
    query = [p for p in operation.get("parameters", []) if p["in"] == "query" and p["name"] not in PAGING]
    return with_body(operation) or bool(query)


PAGING = ("cursor", "page_size")


def with_path_parameter(operation: Operation) -> bool:
    return any(parameter["in"] == "path" for parameter in operation.get("parameters", []))


def with_parameter(name: str) -> Callable[[Operation], bool]:
    def applies(operation: Operation) -> bool:
        return any(parameter["name"] == name for parameter in operation.get("parameters", []))

    return applies


register_problems(
    problem_code(
        "not_authenticated",
        exceptions.NotAuthenticated,
        gettext_lazy("No API key was sent: send `Authorization: Bearer <key>`."),
        authenticated,
    ),
    problem_code(
        "parse_error",
        domain.MalformedBody,
        gettext_lazy("The body is not valid UTF-8 JSON."),
        with_body,
    ),
    problem_code(
        "validation_error",
        domain.InvalidBody,
        gettext_lazy(
            "More than one problem with the request: `errors` lists each (JSON Pointer, code, message). "
            "When exactly one field is wrong, `code` is that field's own code instead."
        ),
        with_input,
    ),
    problem_code(
        "payload_too_large",
        domain.BodyTooLarge,
        gettext_lazy("More bytes, records or identifiers than one request may carry."),
        with_body,
    ),
    problem_code(
        "unsupported_media_type",
        domain.UnsupportedMediaType,
        gettext_lazy("The body is not sent as `application/json`."),
        with_body,
    ),
    problem_code(
        "not_found",
        domain.NotFoundError,
        gettext_lazy("Nothing at this address, or it belongs to another member (the same answer for both)."),
        with_path_parameter,
    ),
    problem_code(
        "database_unavailable",
        (503, "Service unavailable"),
        gettext_lazy("The database cannot be reached for a moment; retry after `Retry-After` seconds."),
        authenticated,  # every credential is checked in the database
    ),
    problem_code(
        "history_held",
        (503, "Service unavailable"),
        gettext_lazy(
            "The platform was restored from a backup and accepts no changes until its operators reconcile its "
            "history (the audit trail and the log never fork); retry after `Retry-After` seconds."
        ),
        authenticated,
    ),
    problem_code(
        "server_error",
        (500, "Internal server error"),
        gettext_lazy("An unexpected failure; it is logged under the answer's `request_id`. No traceback is shown."),
        always,
    ),
)

RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": gettext_lazy("Seconds to wait before trying again."),
    }
}
PROBLEM_LIST = gettext_lazy("Problem document (RFC 9457); its `code` is one of:")
# What a problem answer of this status carries besides its body.
STATUS_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "description": gettext_lazy('`Bearer realm="riskshare"`: how to authenticate.'),
        }
    },
    429: RETRY_AFTER,
    503: RETRY_AFTER,
}
SUCCESS = {
    "200": gettext_lazy("The answer."),
    "201": gettext_lazy("Created; the answer is the new object."),
    "202": gettext_lazy("Accepted; the work goes on in the background."),
    "204": gettext_lazy("Done; no body."),
}
REQUEST_ID = {
    "X-Request-ID": {
        "schema": {"type": "string"},
        "description": gettext_lazy("The request's id (yours if you sent one): quote it to the platform operator."),
    }
}


def problem_component() -> dict[str, Any]:
    """The RFC 9457 problem document, as every error answer has it."""

    def text(description: str, **extra: Any) -> dict[str, Any]:
        return {"type": "string", "description": description, **extra}

    return {
        "type": "object",
        "description": gettext_lazy("Problem document (RFC 9457, `application/problem+json`)."),
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": text(gettext_lazy("A URN naming the problem: `urn:riskshare:problem:<code>`.")),
            "title": text(gettext_lazy("Short summary of the kind of problem, in the request's language.")),
            "status": {"type": "integer", "description": gettext_lazy("The HTTP status of the answer.")},
            "detail": text(gettext_lazy("What went wrong in this request, in the request's language.")),
            "code": text(gettext_lazy("Stable machine code; branch on this, never on text.")),
            "request_id": text(
                gettext_lazy("The answer's X-Request-ID: quote it to the platform operator."), nullable=True
            ),
            "errors": {
                "type": "array",
                "description": gettext_lazy("For invalid input: one entry per problem."),
                "items": {
                    "type": "object",
                    "required": ["field", "code", "message"],
                    "properties": {
                        "field": text(gettext_lazy("JSON Pointer into the request ('' for the body itself).")),
                        "code": text(gettext_lazy("The field's problem code (see docs/api.md).")),
                        "message": text(gettext_lazy("The problem, in the request's language.")),
                    },
                },
            },
        },
    }


def problem_example(entry: ProblemCode) -> dict[str, Any]:
    example = {
        "type": f"urn:riskshare:problem:{entry.code}",
        "title": _(entry.title),
        "status": entry.status,
        "detail": str(entry.description),
        "code": entry.code,
        "request_id": "3f2c9a1e7b6d4c0f",
    }
    if entry.code == "validation_error":
        required = _("This field is required.")
        example["errors"] = [
            {"field": "/key_version", "code": "required", "message": required},
            {"field": "/identifiers", "code": "required", "message": required},
        ]
    return example


def operation_problems(operation: Operation) -> list[ProblemCode]:
    """The codes an operation answers: those it names, and those of its kind."""
    named = [PROBLEM_CODES[code] for code in operation.pop("x-problems", [])]
    kind = [entry for entry in PROBLEM_CODES.values() if entry.applies is not None and entry.applies(operation)]
    return list({entry.code: entry for entry in [*kind, *named]}.values())


def problems_documented(result, generator, request, public):
    """drf-spectacular hook: each operation's problem answers, by status, with their codes and examples."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = problem_component()
    for operations in result["paths"].values():
        for operation in operations.values():
            by_status: dict[int, list[ProblemCode]] = {}
            for entry in operation_problems(operation):
                by_status.setdefault(entry.status, []).append(entry)
            responses = operation.setdefault("responses", {})
            for status, entries in sorted(by_status.items()):
                if _answered_otherwise(responses.get(str(status))):
                    continue
                entries.sort(key=lambda entry: entry.code)
                listed = "\n".join(f"- `{entry.code}`: {entry.description}" for entry in entries)
                declared = responses.get(str(status), {}).get("headers", {})
                responses[str(status)] = {
                    "description": f"{PROBLEM_LIST}\n\n{listed}",
                    "headers": {**REQUEST_ID, **STATUS_HEADERS.get(status, {}), **declared},
                    "content": {
                        PROBLEM_CONTENT_TYPE: {
                            "schema": {"$ref": PROBLEM_REF},
                            "examples": {
                                entry.code: {"summary": entry.code, "value": problem_example(entry)}
                                for entry in entries
                            },
                        }
                    },
                }
            for status, response in responses.items():
                if not status.startswith(("4", "5")):
                    response.setdefault("headers", {}).update(REQUEST_ID)
                    if not response.get("description") or (status == "204" and not response.get("content")):
                        response["description"] = SUCCESS.get(status, "")
    return result


def _answered_otherwise(response: dict | None) -> bool:
    """The operation documents its own answer for this status, not a problem document (a probe's 503)."""
    content = (response or {}).get("content", {})
    return bool(content) and PROBLEM_CONTENT_TYPE not in content


_TRANSLATED_KEYS = frozenset({"description", "summary"})


def descriptions_translated(result, generator, request, public):
    """drf-spectacular hook, the last: every description and summary in the request's language.

    Lazy strings translate themselves; plain ones (msgspec's field descriptions, marked with
    ``gettext_noop``) are looked up here. A text with no entry in the catalogue stays as it is.
    """

    def translate(node: Any, key: str | None = None) -> Any:
        if isinstance(node, dict):
            return {k: translate(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [translate(item) for item in node]
        if key in _TRANSLATED_KEYS and isinstance(node, str) and node:
            return _(node)
        return node

    return translate(result)


def response_example(value: Any, *, status: int = 200, name: str | None = None):
    """A documented answer of an operation (``extend_schema(examples=[...])``); tests hold it to its schema."""
    return OpenApiExample(name or str(status), value=value, response_only=True, status_codes=[str(status)])
