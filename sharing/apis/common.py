"""What every API module of sharing shares: the raw JSON body, cursor pages and their schema."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from core.api import problem_responses
from core.errors import BodyTooLarge, UnsupportedMediaType
from sharing.contracts.base import Contract, openapi_schemas

# Answers naming a member's own lookups: no cache along the way keeps a copy.
NO_STORE = {"Cache-Control": "no-store"}

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def json_body(request, *, wrong_type_message: str, optional: bool = False) -> bytes:
    """The raw JSON body, read once, for every endpoint that takes one: 415 for another media type, 413 when too large.

    ``optional``: no body at all is ``{}``. The body is then parsed by its contract
    (``sharing.contracts``), never by DRF's parsers, so every body meets the same parser and limits.
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


def contract_schema(contract: Contract) -> dict[str, Any]:
    """``extend_schema`` arguments for a body: its schema from the contract, and the contract's examples."""
    schema = contract.openapi_request()
    _DOCUMENTED[schema["application/json"]["$ref"]] = contract
    examples = [OpenApiExample(name, value=value, request_only=True) for name, value in contract.examples.items()]
    return {"request": schema, "examples": examples}


def contract_components_hook(result, generator, request, public):
    """drf-spectacular postprocessing: the contracts' components, and their bodies marked required."""
    _schemas, components = openapi_schemas([contract.struct for contract in _DOCUMENTED.values()])
    result.setdefault("components", {}).setdefault("schemas", {}).update(components)
    for operations in result["paths"].values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            contract = _DOCUMENTED.get(body.get("schema", {}).get("$ref"))
            if contract is not None:
                operation["requestBody"]["required"] = not contract.optional
    return result


def page_response(view, request, queryset, serializer_class, pagination_class) -> Response:
    """One cursor page of a member's own rows: ``{"next", "previous", "results"}``."""
    paginator = pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class RecordCursorPagination(CursorPagination):
    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class NewestFirstPagination(CursorPagination):
    ordering = ("-id",)
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def page_schema(name: str, item) -> dict:
    return {
        200: inline_serializer(
            name,
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": item(many=True),
            },
        ),
        **problem_responses(404),
    }


PAGE_PARAMETERS = [OpenApiParameter("cursor", OpenApiTypes.STR), OpenApiParameter("page_size", int)]
