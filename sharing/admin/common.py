"""Small pieces the sharing admins share."""

from __future__ import annotations

from sharing.identifiers import ID_TYPES


def short_token(token) -> str:
    """Enough of a peppered token to tell two apart on a screen, not enough to be worth copying."""
    return bytes(token).hex()[:12] + "…"


def id_type_label(id_type: str) -> str:
    from sharing.admin.labels import ID_TYPE_LABELS

    return str(ID_TYPE_LABELS.get(id_type, id_type))


def id_type_choices() -> list[tuple[str, str]]:
    return [(id_type, id_type_label(id_type)) for id_type in ID_TYPES]
