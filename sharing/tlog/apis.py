"""The verifiable log (any valid key): checkpoints, the verifier key, proofs, tiles, batch receipts."""

from __future__ import annotations

import base64

from django.http import HttpResponse
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.openapi import problems, response_example
from members.audit import Actor
from sharing.tlog.selectors import checkpoint_latest
from sharing.tlog.services import log_consistency_read, log_inclusion_read, log_read_audit, log_tile_read
from sharing.tlog.signing import log_verifier_key

MAX_INDEX = 2**62  # far beyond any log; keeps every number a 64-bit integer

# The documented answers: a checkpoint and key made with a throwaway key, hashes of made-up leaves.
ORIGIN = "riskshare.local/log"
CHECKPOINT_EXAMPLE = (
    f"{ORIGIN}\n1042\nSBNJTRN+FjG7owHVrKtue7eqdM4RhdRWVl71HXN2d7I=\n\n"
    f"\u2014 {ORIGIN} WU5KqVExiyhU7ocwauA2ZL1vAaU6aOyG0CN+WPZPn7DA8fbjZhtLRsr6hWsmHnTy++PcKmBoGuVdnsjT6DiWm0TXNg8=\n"
)
KEY_EXAMPLE = f"{ORIGIN}+594e4aa9+AZp1O2tqfTi3sS4o2o5ku0hcqQUnPMn8Z3Dsb0N/68RS\n"
HASHES = [
    "ypeBEsobvcr6wjGzmiPcTaeG7/gUfE5yuYB3ha/uSLs=",
    "PiPoFgA5WUoziU9lZOGxNIu9egCI1CxKy3PurtWcAJ0=",
    "Ln0sA6lQeuJl7PW1NWiFpTOTogKdJBOUmXJloaJa78Y=",
]
# Those three hashes, one after the other, as a tile of width 3 holds them (base64 here; raw bytes on the wire).
TILE_EXAMPLE = base64.b64encode(b"".join(base64.b64decode(value) for value in HASHES)).decode()
LEAF_HASH_EXAMPLE = "n5EWH0NDPkmm3m22gNefYBWfLkrJFyYhoShGQoFYRAs="


def _media_example(value: str, media_type: str, description: str = "") -> OpenApiExample:
    """A documented text or binary answer, under its own media type."""
    return OpenApiExample(
        "200", value=value, response_only=True, status_codes=["200"], media_type=media_type, description=description
    )


def _text(body: str) -> HttpResponse:
    return HttpResponse(body.encode(), content_type="text/plain; charset=utf-8")


class CheckpointApi(APIView):
    """The latest signed checkpoint: a C2SP tlog-checkpoint in a C2SP signed note (Ed25519)."""

    required_scope = None

    @extend_schema(
        operation_id="log_checkpoint",
        tags=["log"],
        summary=gettext_lazy("The log's latest signed checkpoint"),
        description=gettext_lazy(
            "The latest checkpoint of the verifiable log: a C2SP tlog-checkpoint (origin, tree size, base64 "
            "root hash) in a C2SP signed note, signed with the log's Ed25519 key (GET /api/v1/log/key). "
            "Proofs are asked for against its tree size. Not found until the log has signed its first checkpoint."
        ),
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR,
                description=gettext_lazy("Origin, tree size, base64 root hash; a blank line; the signature."),
            ),
        },
        examples=[_media_example(CHECKPOINT_EXAMPLE, "text/plain")],
        extensions=problems("not_found"),
    )
    def get(self, request):
        checkpoint = checkpoint_latest()
        log_read_audit(actor=Actor.credential(request.auth), what="checkpoint", size=checkpoint.size)
        return _text(checkpoint.note)


class VerifierKeyApi(APIView):
    """The log's verifier key, C2SP signed-note form: `<name>+<key id>+<base64(0x01 ‖ Ed25519 key)>`."""

    required_scope = None

    @extend_schema(
        operation_id="log_key",
        tags=["log"],
        summary=gettext_lazy("The log's verifier key"),
        description=gettext_lazy(
            "The key that verifies the log's checkpoints, in C2SP signed-note form: "
            "`<name>+<key id>+<base64(0x01 ‖ Ed25519 public key)>`. Pin it once and check every checkpoint with it."
        ),
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description=gettext_lazy("One line: the key."))
        },
        examples=[_media_example(KEY_EXAMPLE, "text/plain")],
    )
    def get(self, request):
        return _text(log_verifier_key() + "\n")


def _count(help_text: str, *, maximum: int = MAX_INDEX, minimum: int = 0) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=minimum, max_value=maximum, help_text=help_text)


class ProofOutputSerializer(serializers.Serializer):
    proof = serializers.ListField(
        child=serializers.CharField(), help_text=gettext_lazy("Base64 SHA-256 hashes, in RFC 9162 order.")
    )


class InclusionProofApi(APIView):
    """The RFC 9162 audit path of leaf `index` in the tree of `tree_size` leaves."""

    required_scope = None

    class InclusionQuerySerializer(serializers.Serializer):
        index = _count(gettext_lazy("The leaf's index in the log, from 0; below tree_size."))
        tree_size = _count(gettext_lazy("The size of the tree the proof is for: a checkpoint's tree size."), minimum=1)

    class InclusionProofSerializer(ProofOutputSerializer):
        index = serializers.IntegerField(help_text=gettext_lazy("The leaf's index, as asked."))
        tree_size = serializers.IntegerField(help_text=gettext_lazy("The tree's size, as asked."))
        leaf_hash = serializers.CharField(help_text=gettext_lazy("The leaf's hash: base64 SHA-256(0x00 ‖ leaf)."))

    @extend_schema(
        operation_id="log_inclusion_proof",
        tags=["log"],
        summary=gettext_lazy("Prove a leaf is in the log"),
        description=gettext_lazy(
            "The RFC 9162 audit path of leaf `index` in the tree of `tree_size` leaves, with the leaf's hash: "
            "hashed up the path, it gives the root of the checkpoint of that size."
        ),
        parameters=[InclusionQuerySerializer],
        responses={200: InclusionProofSerializer},
        examples=[response_example({"index": 1, "tree_size": 1042, "leaf_hash": LEAF_HASH_EXAMPLE, "proof": HASHES})],
        extensions=problems("index_out_of_range", "beyond_log"),
    )
    def get(self, request):
        query = self.InclusionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(log_inclusion_read(actor=Actor.credential(request.auth), **query.validated_data))


class ConsistencyProofApi(APIView):
    """The RFC 9162 consistency proof between the trees of `first` and `second` leaves."""

    required_scope = None

    class ConsistencyQuerySerializer(serializers.Serializer):
        first = _count(gettext_lazy("The older tree's size: at least 1, at most second."), minimum=1)
        second = _count(gettext_lazy("The newer tree's size: a checkpoint's tree size."), minimum=1)

    class ConsistencyProofSerializer(ProofOutputSerializer):
        first = serializers.IntegerField(help_text=gettext_lazy("The older tree's size, as asked."))
        second = serializers.IntegerField(help_text=gettext_lazy("The newer tree's size, as asked."))

    @extend_schema(
        operation_id="log_consistency_proof",
        tags=["log"],
        summary=gettext_lazy("Prove the log only grew"),
        description=gettext_lazy(
            "The RFC 9162 consistency proof between the trees of `first` and `second` leaves: it shows that the "
            "larger tree extends the smaller one, so no leaf of the older checkpoint was changed or removed."
        ),
        parameters=[ConsistencyQuerySerializer],
        responses={200: ConsistencyProofSerializer},
        examples=[response_example({"first": 1000, "second": 1042, "proof": HASHES})],
        extensions=problems("sizes_out_of_order", "beyond_log"),
    )
    def get(self, request):
        query = self.ConsistencyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(log_consistency_read(actor=Actor.credential(request.auth), **query.validated_data))


class TileApi(APIView):
    """A C2SP tlog-tiles hash tile: `<L>/<N>[.p/<W>]`, W × 32 bytes of node hashes of height 8·L."""

    required_scope = None

    @extend_schema(
        operation_id="log_tile",
        tags=["log"],
        summary=gettext_lazy("A hash tile of the log"),
        description=gettext_lazy(
            "A C2SP tlog-tiles hash tile, `<L>/<N>[.p/<W>]`: W × 32 bytes of the node hashes of height 8·L "
            "(256 in a full tile, W in a partial one). A tile never changes once served, and may be cached. "
            "Not found for a path that is no tile, or a tile the log does not hold yet."
        ),
        parameters=[
            OpenApiParameter(
                "tile",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description=gettext_lazy("The tile's path, e.g. 0/x001/234 or 0/x001/234.p/17."),
            )
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description=gettext_lazy("The tile's hashes, concatenated, 32 bytes each.")
            ),
        },
        examples=[
            _media_example(
                TILE_EXAMPLE,
                "application/octet-stream",
                gettext_lazy("Raw bytes on the wire; shown here as base64."),
            )
        ],
    )
    def get(self, request, tile: str):
        content = log_tile_read(actor=Actor.credential(request.auth), path=tile)
        response = HttpResponse(content, content_type="application/octet-stream")
        # A tile's content never changes: a full one, or a partial one named by its width.
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response
