"""What every API module of sharing shares: the raw JSON body, cursor pages and their schema."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

import sharing.common.problems  # noqa: F401 - registers sharing's problem codes
from core.errors import BodyTooLarge, DomainError, UnsupportedMediaType
from core.openapi import response_example
from sharing.common.contracts import Contract, openapi_schemas

# Answers naming a member's own lookups: no cache along the way keeps a copy.
NO_STORE = {"Cache-Control": "no-store"}

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def idempotency_parameter(what: str) -> OpenApiParameter:
    """The Idempotency-Key header of a bulk write, as the schema shows it."""
    return OpenApiParameter(
        "Idempotency-Key",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description=format_lazy(
            gettext_lazy(
                "1–255 visible ASCII characters, unique per {what}; kept at least 24 hours. The same key with "
                "the same body answers the first answer again; with another body, 422."
            ),
            what=what,
        ),
        pattern=r"^[\x21-\x7e]{1,255}$",
    )


def idempotency_key(request) -> str:
    """The request's Idempotency-Key header, or a problem naming the header."""
    key = request.headers.get("Idempotency-Key", "")
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise DomainError(
            _("Send an Idempotency-Key header of 1–255 visible ASCII characters."),
            code="idempotency_key_required",
            field="/headers/Idempotency-Key",
        )
    return key


def json_body(request, *, wrong_type_message: str, optional: bool = False) -> bytes:
    """The raw JSON body, read once, for every endpoint that takes one: 415 for another media type, 413 when too large.

    ``optional``: no body at all is ``{}``. The body is then parsed by its contract
    (each package's ``contracts``), never by DRF's parsers, so every body meets the same parser and limits.
    """
    if int(request.META.get("CONTENT_LENGTH") or 0) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise BodyTooLarge(_("The request body is too large."))
    try:
        body = request.body
    except RequestDataTooBig:
        raise BodyTooLarge(_("The request body is too large.")) from None
    if optional and not body:
        return b"{}"
    if request.content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType(wrong_type_message)
    return body


# The request bodies documented through their contracts; their components join the schema (below).
_DOCUMENTED: dict[str, Contract] = {}


def contract_schema(contract: Contract, *answers: OpenApiExample) -> dict[str, Any]:
    """``extend_schema`` arguments for a body: its schema from the contract, the contract's examples, and
    the operation's documented ``answers`` (``core.openapi.response_example``)."""
    schema = contract.openapi_request()
    _DOCUMENTED[schema["application/json"]["$ref"]] = contract
    examples = [OpenApiExample(name, value=value, request_only=True) for name, value in contract.examples.items()]
    return {"request": schema, "examples": [*examples, *answers]}


def contract_components_hook(result, generator, request, public):
    """drf-spectacular postprocessing: the contracts' components, their bodies marked required, their codes.

    The codes a refusal of the body can carry join the operation's problems (``core.openapi``).
    """
    _schemas, components = openapi_schemas([contract.struct for contract in _DOCUMENTED.values()])
    result.setdefault("components", {}).setdefault("schemas", {}).update(components)
    for operations in result["paths"].values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if not body:
                continue
            contract = _DOCUMENTED.get(body.get("schema", {}).get("$ref"))
            if contract is not None:
                operation["requestBody"]["required"] = not contract.optional
                operation.setdefault("x-problems", []).extend(contract.codes())
    return result


def page_response(view, request, queryset, serializer_class, pagination_class) -> Response:
    """One cursor page of a member's own rows: ``{"next", "previous", "results"}``."""
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class CheckedCursorPagination(CursorPagination):
    """Cursor pages whose cursor, sent back by the client, is checked before it reaches a query.

    DRF decodes the cursor but trusts the position in it; a tampered one would reach the database
    as a value of the wrong type. ``position_valid`` says what a position of the first ordering
    field looks like.
    """

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
            valid = False
        else:
            valid = cursor is None or cursor.position is None or self.position_valid(cursor.position)
        if not valid:
            raise DomainError(
                _("This cursor is not one the API gave; start again without it."),
                code="invalid_cursor",
                field="/query/cursor",
            )
        return cursor

    @staticmethod
    def position_valid(position: str) -> bool:
        """By default the list is ordered by id: a position is a whole number."""
        return re.fullmatch("[0-9]{1,19}", position) is not None

    def get_page_size(self, request):
        """The asked page size, 1 to ``max_page_size``; anything else is refused, not silently replaced."""
        asked = request.query_params.get(self.page_size_query_param)
        if asked is None:
            return self.page_size
        if re.fullmatch("[0-9]{1,4}", asked) is None or not 1 <= int(asked) <= self.max_page_size:
            raise DomainError(
                _("page_size is a whole number from 1 to %(max)d.") % {"max": self.max_page_size},
                code="bad_page_size",
                field="/query/page_size",
            )
        return int(asked)


def _time_position(position: str) -> bool:
    try:
        return dt.datetime.fromisoformat(position).tzinfo is not None
    except ValueError:
        return False


class RecordCursorPagination(CheckedCursorPagination):
    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    @staticmethod
    def position_valid(position: str) -> bool:
        return _time_position(position)


class NewestFirstPagination(CheckedCursorPagination):
    ordering = ("-id",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    @staticmethod
    def position_valid(position: str) -> bool:
        return re.fullmatch("[0-9]{1,19}", position) is not None and int(position) < 2**63


def page_serializer(name: str, item):
    """A cursor page of ``item``: ``{"next", "previous", "results"}``."""
    return inline_serializer(
        name,
        {
            "next": serializers.URLField(
                allow_null=True, help_text=gettext_lazy("The next page's address; null on the last page.")
            ),
            "previous": serializers.URLField(
                allow_null=True, help_text=gettext_lazy("The previous page's address; null on the first page.")
            ),
            "results": item(many=True, help_text=gettext_lazy("This page's items.")),
        },
    )


def page_schema(name: str, item) -> dict:
    return {200: page_serializer(name, item)}


def page_example(*items: dict, path: str) -> OpenApiExample:
    """A documented answer: one page of ``items`` with a next page."""
    cursor = "cD0yMDI2LTExLTMwKzA4JTNBMDA"
    next_page = f"https://riskshare.example/api/v1/{path}?cursor={cursor}"
    return response_example({"next": next_page, "previous": None, "results": list(items)})


def page_parameters(pagination_class) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            "cursor",
            OpenApiTypes.STR,
            description=gettext_lazy("As given in `next` or `previous`; opaque. Leave it out for the first page."),
        ),
        OpenApiParameter(
            "page_size",
            {"type": "integer", "minimum": 1, "maximum": pagination_class.max_page_size},
            description=format_lazy(
                gettext_lazy("Items a page, 1 to {max} (default {default})."),
                max=pagination_class.max_page_size,
                default=pagination_class.page_size,
            ),
        ),
    ]


PAGE_PARAMETERS = page_parameters(NewestFirstPagination)
