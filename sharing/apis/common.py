"""What every API module of sharing shares: the raw JSON body, cursor pages and their schema."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from core.api import problem_responses
from core.errors import PayloadTooLarge, UnsupportedMediaType

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def json_body(request, *, wrong_type_message: str) -> bytes:
    """The raw JSON body of a bulk request, read once; 415 for another media type, 413 when too large."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(wrong_type_message)
    if int(request.META.get("CONTENT_LENGTH") or 0) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise PayloadTooLarge(_("The request body is too large."))
    try:
        return request.body
    except RequestDataTooBig:
        raise PayloadTooLarge(_("The request body is too large.")) from None


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
