"""The identifiers a person shows at the desk, turned into v2 tokens by the evaluator (a full Evaluate).

The raw values and their tokens live only in these objects, for the request that made them: nothing
here stores, logs or audits them; what leaves is peppered (``peppered``) or masked (``masked``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from core.errors import DomainError
from sharing.tokens.admin import id_type_label
from sharing.tokens.evaluator_wire import EvaluatorRefused, EvaluatorUnavailable
from sharing.tokens.gateway import evaluator, unavailable
from sharing.tokens.identifiers import InvalidIdentifier, canonicalize
from sharing.tokens.models import ConsortiumKey
from sharing.tokens.pepper import pepper_tokens

# What the desk takes: the person's own identifiers (an enterprise's code or a device id are not theirs to show).
DESK_TYPES = ("cn_resident_id", "cn_mobile", "bank_card", "email")


@dataclass(repr=False)
class SubjectIdentifier:
    """One identifier: its type, masked form, and its tokens under every current v2 key version."""

    id_type: str
    masked: str
    tokens: dict[int, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never the tokens, in a traceback or a log line
        return f"SubjectIdentifier({self.id_type}, {self.masked})"


def mask(id_type: str, canonical: str) -> str:
    """Enough for the person to recognise their identifier, as the credit reference center prints it."""
    if id_type == "email":
        local, _at, domain = canonical.partition("@")
        return f"{local[:1]}***@{domain}"
    keep_start, keep_end = {"cn_resident_id": (6, 4), "cn_mobile": (3, 4), "bank_card": (4, 4)}.get(id_type, (2, 2))
    hidden = max(0, len(canonical) - keep_start - keep_end)
    return canonical[:keep_start] + "*" * hidden + canonical[len(canonical) - keep_end :]


def subject_identify(presented: list[tuple[str, str]]) -> list[SubjectIdentifier]:
    """Canonicalize what the person showed and have the evaluator compute its tokens; refuse clearly otherwise."""
    presented = [(id_type, raw) for id_type, raw in presented if raw and raw.strip()]
    if not presented:
        raise DomainError(_("Enter at least one identifier the person presents."), code="required")
    versions = list(
        ConsortiumKey.objects.filter(
            scheme=ConsortiumKey.Scheme.VOPRF_V2, state=ConsortiumKey.State.CURRENT
        ).values_list("version", flat=True)
    )
    if not versions:
        raise DomainError(
            _(
                "The platform has no v2 key version yet: tokens of a person's identifiers can only be computed "
                "under v2. Create one (docs/identifier-tokens.md) before issuing reports."
            ),
            code="no_v2_key",
        )
    identifiers: list[SubjectIdentifier] = []
    canonicals: list[str] = []
    for id_type, raw in presented:
        try:
            canonical = canonicalize(id_type, raw)
        except InvalidIdentifier as exc:
            raise DomainError(
                _("The %(type)s entered is not valid (%(reason)s); check it against the document.")
                % {"type": id_type_label(id_type), "reason": exc.reason},
                code="invalid_identifier",
                field=id_type,
            ) from None
        identifiers.append(SubjectIdentifier(id_type, mask(id_type, canonical)))
        canonicals.append(canonical)
    try:
        for version in versions:
            for identifier, canonical in zip(identifiers, canonicals, strict=True):
                [token] = evaluator().evaluate_full(version, identifier.id_type, [canonical])
                identifier.tokens[version] = token
    except EvaluatorUnavailable as exc:
        raise unavailable(exc) from None
    except EvaluatorRefused as exc:
        raise DomainError(
            _("The token evaluator refused the request (%(code)s).") % {"code": exc.code}, code="evaluator_refused"
        ) from None
    finally:
        del canonicals
    return identifiers


def peppered(identifiers: list[SubjectIdentifier]) -> list[tuple[str, bytes]]:
    """(type, peppered token) for every identifier under every version: what is stored and searched by."""
    pairs = [(identifier.id_type, token) for identifier in identifiers for token in identifier.tokens.values()]
    return list(zip([id_type for id_type, _t in pairs], pepper_tokens([t for _i, t in pairs]), strict=True))
