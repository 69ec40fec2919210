"""The token key directory and the evaluation API (docs/api.md, "Tokens v2")."""

from __future__ import annotations

import base64

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import errors as domain
from core.openapi import problem_code, problems, register_problems, response_example
from members.authentication import ActiveMemberCredential
from sharing.common.apis import NO_STORE, contract_schema, json_body
from sharing.common.crypto import public_key_fingerprint
from sharing.common.signing import sign, signing_key
from sharing.evaluations.contracts import EVALUATE, EXAMPLE_ELEMENTS, elements_decode
from sharing.evaluations.services import body_sha256, token_evaluate
from sharing.tokens.directory import directory_document
from sharing.tokens.selectors import key_directory

register_problems(
    problem_code(
        "not_a_v2_key_version",
        domain.DomainError,
        _("The key version is a shared consortium key (v1); members compute its tokens themselves."),
    ),
    problem_code(
        "bad_element",
        domain.DomainError,
        _("A blinded element is not a canonical ristretto255 element, or is the identity; nothing was evaluated."),
    ),
    problem_code(
        "evaluations_per_day",
        domain.LimitReached,
        _("The member's token evaluations for this identifier type today reached its limit; the operator is told."),
    ),
    problem_code(
        "evaluations_ratio",
        domain.LimitReached,
        _(
            "The member's token evaluations over 30 days exceed 1.5 times the tokens it used, plus an allowance; "
            "the operator is told."
        ),
    ),
    problem_code(
        "evaluator_unavailable",
        domain.Unavailable,
        _("The token evaluator cannot be reached; retry after `Retry-After` seconds."),
    ),
)

# Whoever may use a token may make one: evaluations only serve submissions, lookups, watches and disputes, and
# the meter counts them per member against that use. A scope of its own would add no boundary (the limits are
# the member's, not a credential's) and would make every member re-issue credentials in the middle of the move.
TOKEN_USING_SCOPES = ("records:write", "lookups", "monitoring", "disputes")


class TokenUsingCredential(ActiveMemberCredential):
    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if not set(TOKEN_USING_SCOPES) & set(request.auth.scopes):
            raise exceptions.PermissionDenied(
                gettext("This API key lacks a scope that uses tokens (%(scopes)s).")
                % {"scopes": ", ".join(TOKEN_USING_SCOPES)},
                code="missing_scope",
            )
        return True


class KeyVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text=_("The key version members name in every request."))
    scheme = serializers.ChoiceField(
        choices=["hmac-v1", "voprf-v2"], help_text=_("hmac-v1: a shared consortium key; voprf-v2: the platform's.")
    )
    state = serializers.ChoiceField(choices=["current", "retired"], help_text=_("Only current versions are accepted."))
    check_value = serializers.CharField(help_text=_("16 hex that confirm a key file (v1) or the public keys (v2)."))
    valid_from = serializers.DateTimeField(help_text=_("When the version was opened."))
    retired_at = serializers.DateTimeField(allow_null=True, help_text=_("When it was retired; null while current."))
    public_keys = serializers.DictField(
        child=serializers.CharField(),
        allow_null=True,
        help_text=_("voprf-v2: each identifier type's public key, 32 bytes hex; null for hmac-v1."),
    )


class TokenKeysApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    class DirectorySerializer(serializers.Serializer):
        keys = KeyVersionSerializer(many=True, help_text=_("Every key version, oldest first."))
        signed = serializers.CharField(help_text=_("The exact bytes signed: the keys as canonical JSON, base64."))
        signature = serializers.CharField(help_text=_("Ed25519 signature of `signed` by the report key, base64."))
        signing_key_fingerprint = serializers.CharField(
            help_text=_("SHA-256 of the signing key (GET /api/v1/reports/public-key), hex.")
        )

    @extend_schema(
        operation_id="token_keys",
        tags=["tokens"],
        summary=_("The token key versions and their public keys"),
        description=_(
            "Every key version with its scheme, state, validity and, for voprf-v2, each identifier type's "
            "public key, signed with the platform's report key so that the CLI can check and pin them. "
            "No authentication."
        ),
        responses={200: DirectorySerializer},
        examples=[
            response_example(
                {
                    "keys": [
                        {
                            "version": 2,
                            "scheme": "voprf-v2",
                            "state": "current",
                            "check_value": "4b1e0f6c2a9d8e73",
                            "valid_from": "2026-12-01T08:00:00+00:00",
                            "retired_at": None,
                            "public_keys": {
                                "cn_mobile": "7e9a8d1d3bda44c9b9e8a1a6e7c0e3d0c0f9c8b7a6e5d4c3b2a1908f7e6d5c4b",
                            },
                        }
                    ],
                    "signed": "eyJrZXlzIjpbXX0=",
                    "signature": "3q2+7w==",
                    "signing_key_fingerprint": "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1",
                }
            )
        ],
    )
    def get(self, request):
        keys = key_directory()
        signed = directory_document(keys)
        return Response(
            {
                "keys": keys,
                "signed": base64.b64encode(signed).decode(),
                "signature": base64.b64encode(sign(signed)).decode(),
                "signing_key_fingerprint": public_key_fingerprint(signing_key().public_key()),
            }
        )


class TokenEvaluateApi(APIView):
    permission_classes = [TokenUsingCredential]

    class EvaluatedSerializer(serializers.Serializer):
        key_version = serializers.IntegerField(help_text=_("As sent."))
        type = serializers.CharField(help_text=_("As sent."))
        evaluated = serializers.ListField(
            child=serializers.CharField(), help_text=_("The evaluated elements, base64, in the order sent.")
        )
        proof = serializers.CharField(
            help_text=_("The batched DLEQ proof (c ‖ s, 64 bytes, base64) against the type's published key.")
        )

    @extend_schema(
        operation_id="token_evaluate",
        tags=["tokens"],
        summary=_("Evaluate blinded identifiers (tokens v2)"),
        description=_(
            "RFC 9497 VOPRF (ristretto255-SHA512): up to 10,000 blinded elements of one identifier type in, the "
            "evaluated elements and one batched proof out. Verify the proof against the public key from "
            "GET /api/v1/tokens/keys, then finalize: the token is the first 32 bytes of the output, hex. Counted "
            "against the member's limits (per type per day; over 30 days against its use of tokens) and audited.\n\n"
            "Scope: any of `records:write`, `lookups`, `monitoring`, `disputes`."
        ),
        **contract_schema(
            EVALUATE,
            response_example(
                {
                    "key_version": 2,
                    "type": "cn_mobile",
                    "evaluated": list(EXAMPLE_ELEMENTS),
                    "proof": base64.b64encode(bytes(range(64))).decode(),
                }
            ),
        ),
        responses={200: EvaluatedSerializer},
        extensions=problems(
            "unknown_key_version",
            "retired_key_version",
            "not_a_v2_key_version",
            "evaluations_per_day",
            "evaluations_ratio",
            "evaluator_unavailable",
            "missing_scope",
        ),
    )
    def post(self, request):
        body = json_body(request, wrong_type_message=gettext("Send the elements as application/json."))
        evaluation = EVALUATE.parse(body)
        result = token_evaluate(
            credential=request.auth,
            key_version=evaluation.key_version,
            id_type=evaluation.type,
            blinded=elements_decode(evaluation),
            body_digest=body_sha256(body),
        )
        answer = {
            "key_version": evaluation.key_version,
            "type": evaluation.type,
            "evaluated": [base64.b64encode(element).decode() for element in result.evaluated],
            "proof": base64.b64encode(result.proof).decode(),
        }
        return Response(answer, headers=NO_STORE)
