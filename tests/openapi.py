"""The generated OpenAPI document, for the tests: built once, walked, and held against what the API answers."""

from __future__ import annotations

import functools
import re
from typing import Any

from django.utils import translation
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "post", "put", "patch", "delete")


@functools.cache
def documented_schema() -> dict[str, Any]:
    """The schema in English, as the docs page serves it."""
    with translation.override("en"):
        return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict):
    for path, items in schema["paths"].items():
        for method, operation in items.items():
            if method in METHODS:
                yield path, method, operation


def resolved(schema: dict, node: Any) -> Any:
    """``node`` with every ``$ref`` into the components replaced by what it names."""
    if isinstance(node, dict):
        if "$ref" in node:
            return resolved(schema, schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
        # The discriminator's mapping names components too; oneOf alone already picks the variant.
        return {key: resolved(schema, value) for key, value in node.items() if key != "discriminator"}
    if isinstance(node, list):
        return [resolved(schema, item) for item in node]
    return node


def documented_codes(route: str, method: str, status: int) -> set[str] | None:
    """The problem codes documented for an answer of this route (Django's pattern); None if it is no operation."""
    path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    operation = documented_schema()["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return None
    content = operation["responses"].get(str(status), {}).get("content", {})
    return set(content.get("application/problem+json", {}).get("examples", {}))
