"""The verifiable log (any valid key): checkpoints, the verifier key, proofs, tiles, batch receipts."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFoundError
from members.audit import Actor
from sharing.tlog import tiles
from sharing.tlog.selectors import batch_receipt, checkpoint_latest, consistency_proof, inclusion_proof, tile_get
from sharing.tlog.services import log_read_audit
from sharing.tlog.signing import log_verifier_key

MAX_INDEX = 2**62  # far beyond any log; keeps every number a 64-bit integer


def _text(body: str) -> HttpResponse:
    return HttpResponse(body.encode(), content_type="text/plain; charset=utf-8")


class CheckpointApi(APIView):
    """The latest signed checkpoint: a C2SP tlog-checkpoint in a C2SP signed note (Ed25519)."""

    required_scope = None

    @extend_schema(
        operation_id="log_checkpoint",
        tags=["log"],
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR, description="Origin, tree size, base64 root hash; a blank line; the signature."
            ),
        },
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
        responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="One line.")},
    )
    def get(self, request):
        return _text(log_verifier_key() + "\n")


def _count(maximum: int = MAX_INDEX, minimum: int = 0) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=minimum, max_value=maximum)


class ProofOutputSerializer(serializers.Serializer):
    proof = serializers.ListField(child=serializers.CharField(), help_text="Base64 SHA-256 hashes, RFC 9162 order.")


class InclusionProofApi(APIView):
    """The RFC 9162 audit path of leaf `index` in the tree of `tree_size` leaves."""

    required_scope = None

    class InclusionQuerySerializer(serializers.Serializer):
        index = _count()
        tree_size = _count(minimum=1)

    class InclusionProofSerializer(ProofOutputSerializer):
        index = serializers.IntegerField()
        tree_size = serializers.IntegerField()
        leaf_hash = serializers.CharField(help_text="Base64 SHA-256(0x00 ‖ leaf).")

    @extend_schema(
        operation_id="log_inclusion_proof",
        tags=["log"],
        parameters=[InclusionQuerySerializer],
        responses={200: InclusionProofSerializer},
    )
    def get(self, request):
        query = self.InclusionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = inclusion_proof(**query.validated_data)
        log_read_audit(actor=Actor.credential(request.auth), what="inclusion", **query.validated_data)
        return Response(answer)


class ConsistencyProofApi(APIView):
    """The RFC 9162 consistency proof between the trees of `first` and `second` leaves."""

    required_scope = None

    class ConsistencyQuerySerializer(serializers.Serializer):
        first = _count(minimum=1)
        second = _count(minimum=1)

    class ConsistencyProofSerializer(ProofOutputSerializer):
        first = serializers.IntegerField()
        second = serializers.IntegerField()

    @extend_schema(
        operation_id="log_consistency_proof",
        tags=["log"],
        parameters=[ConsistencyQuerySerializer],
        responses={200: ConsistencyProofSerializer},
    )
    def get(self, request):
        query = self.ConsistencyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = consistency_proof(**query.validated_data)
        log_read_audit(actor=Actor.credential(request.auth), what="consistency", **query.validated_data)
        return Response(answer)


class TileApi(APIView):
    """A C2SP tlog-tiles hash tile: `<L>/<N>[.p/<W>]`, W × 32 bytes of node hashes of height 8·L."""

    required_scope = None

    @extend_schema(
        operation_id="log_tile",
        tags=["log"],
        parameters=[OpenApiParameter("tile", OpenApiTypes.STR, OpenApiParameter.PATH, description="e.g. 0/x001/234")],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="Concatenated hashes."),
        },
    )
    def get(self, request, tile: str):
        parsed = tiles.tile_path_parse(tile)
        if parsed is None:
            raise NotFoundError(_("Not a tile path: <level>/<index>[.p/<width>], index in x-prefixed 3-digit groups."))
        level, index, width = parsed
        content = tile_get(level=level, index=index, width=width)
        log_read_audit(actor=Actor.credential(request.auth), what="tile", tile=tile)
        response = HttpResponse(content, content_type="application/octet-stream")
        # A tile's content never changes: a full one, or a partial one named by its width.
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response


class BatchReceiptApi(APIView):
    """Where your batch's changes are in the log: a signed checkpoint, each leaf's index, hash and salt."""

    required_scope = None

    class ReceiptSerializer(serializers.Serializer):
        class LeafSerializer(serializers.Serializer):
            reference = serializers.CharField(allow_null=True, help_text="Empty once the record is purged.")
            index = serializers.IntegerField()
            kind = serializers.CharField(help_text="The change: reported or updated.")
            member = serializers.IntegerField(help_text="Your member id, as the leaf names it.")
            time = serializers.IntegerField(help_text="The leaf's time, milliseconds since the epoch.")
            leaf_hash = serializers.CharField(help_text="Base64.")
            salt = serializers.CharField(allow_null=True, help_text="Base64 16 bytes; gone once the record is purged.")

        checkpoint = serializers.CharField(help_text="The signed note the indices are under.")
        tree_size = serializers.IntegerField()
        leaves = LeafSerializer(many=True)

    @extend_schema(
        operation_id="batch_receipt",
        tags=["log"],
        responses={200: ReceiptSerializer},
    )
    def get(self, request, batch_id: int):
        receipt = batch_receipt(member_id=request.user.pk, batch_id=batch_id)
        log_read_audit(actor=Actor.credential(request.auth), what="receipt", batch=batch_id)
        return Response({"checkpoint": receipt.checkpoint, "tree_size": receipt.tree_size, "leaves": receipt.leaves})
