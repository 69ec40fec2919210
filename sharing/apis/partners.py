"""The partner registry (scope partners) and partner profiles (any valid key)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import problem_responses
from core.clock import business_today
from core.errors import NotFoundError
from members.audit import Actor
from sharing.apis.common import (
    PAGE_PARAMETERS,
    NewestFirstPagination,
    contract_schema,
    json_body,
    page_response,
    page_schema,
)
from sharing.contracts.base import whole
from sharing.contracts.partners import (
    PARTNER,
    PARTNER_EXIT,
    PARTNER_FLAG,
    PARTNER_FLAG_ANSWER,
    PARTNER_UPDATE,
    USCC_PATTERN,
    uscc_rules,
)
from sharing.models import LicenceType, PartnerFlag, PartnerRole
from sharing.partners.review import review_state
from sharing.partners.selectors import flag_list, partner_get, partner_list
from sharing.services.partners import (
    flag_answer,
    flag_file,
    partner_exit,
    partner_profile_view,
    partner_register,
    partner_update,
)


def _body(request, contract):
    body = json_body(request, wrong_type_message=_("Send the body as application/json."))
    return contract.parse(body, today=business_today()) if contract.rules else contract.parse(body)


def _path_uscc(uscc: str) -> str:
    """A USCC in the path; one that cannot be valid names no partner (the same 404 as an unknown one)."""
    if uscc_rules(uscc):
        raise NotFoundError(_("No member registered a partner with this USCC."))
    return uscc


USCC_PARAMETER = OpenApiParameter(
    "uscc",
    {"type": "string", "pattern": whole(USCC_PATTERN)},
    OpenApiParameter.PATH,
    description="The partner's USCC (18 characters, check character included).",
)


class LicenceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=LicenceType.values)
    number = serializers.CharField()
    issuer = serializers.CharField()
    valid_to = serializers.DateField()


class ReviewSerializer(serializers.Serializer):
    needed = serializers.BooleanField(
        help_text="A licence or the agreement lapsed, or the due diligence is over a year old."
    )
    reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=["licence_lapsed", "agreement_lapsed", "due_diligence_stale"])
    )
    next_date = serializers.DateField(
        allow_null=True, help_text="The earliest date ahead by which the entry needs review (alerted 30 days before)."
    )


class PartnerSerializer(serializers.Serializer):
    uscc = serializers.CharField()
    name = serializers.CharField()
    roles = serializers.ListField(child=serializers.ChoiceField(choices=PartnerRole.values))
    licences = LicenceSerializer(many=True, source="licences.all")
    due_diligence_on = serializers.DateField()
    agreement_expires_on = serializers.DateField()
    public_list_url = serializers.CharField(help_text="Empty when none was given.")
    exited_on = serializers.DateField(allow_null=True)
    exit_reason = serializers.CharField()
    review = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(ReviewSerializer(allow_null=True))
    def get_review(self, partner) -> dict | None:
        if partner.exited_on is not None:
            return None
        return ReviewSerializer(review_state(partner, today=business_today())).data


class PartnerListApi(APIView):
    """Register a partner you work with; list your partners (every entry, ended ones too)."""

    required_scope = "partners"

    class FilterSerializer(serializers.Serializer):
        needs_review = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text="Only entries that need review (or only not)."
        )

    @extend_schema(
        operation_id="partner_register",
        tags=["partners"],
        **contract_schema(PARTNER),
        responses={201: PartnerSerializer, **problem_responses(409, 413, 415)},
    )
    def post(self, request):
        body = _body(request, PARTNER)
        partner = partner_register(actor=Actor.credential(request.auth), member_id=request.user.pk, body=body)
        return Response(PartnerSerializer(partner_get(member_id=request.user.pk, uscc=partner.uscc)).data, status=201)

    @extend_schema(
        operation_id="partner_list",
        tags=["partners"],
        parameters=[FilterSerializer],
        responses={200: PartnerSerializer(many=True), **problem_responses()},
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        partners = partner_list(
            member_id=request.user.pk, needs_review=filters.validated_data["needs_review"], today=business_today()
        )
        return Response(PartnerSerializer(partners, many=True).data)


class PartnerDetailApi(APIView):
    """One of your partner entries; PUT replaces its fields and licences."""

    required_scope = "partners"

    @extend_schema(
        operation_id="partner_get",
        parameters=[USCC_PARAMETER],
        tags=["partners"],
        responses={200: PartnerSerializer, **problem_responses(404)},
    )
    def get(self, request, uscc: str):
        return Response(PartnerSerializer(partner_get(member_id=request.user.pk, uscc=_path_uscc(uscc))).data)

    @extend_schema(
        operation_id="partner_update",
        parameters=[USCC_PARAMETER],
        tags=["partners"],
        **contract_schema(PARTNER_UPDATE),
        responses={200: PartnerSerializer, **problem_responses(404, 409, 413, 415)},
    )
    def put(self, request, uscc: str):
        partner = partner_get(member_id=request.user.pk, uscc=_path_uscc(uscc))
        body = _body(request, PARTNER_UPDATE)
        partner_update(actor=Actor.credential(request.auth), partner=partner, body=body)
        return Response(PartnerSerializer(partner_get(member_id=request.user.pk, uscc=uscc)).data)


class PartnerExitApi(APIView):
    """You stopped working with the partner: the entry stays, marked ended."""

    required_scope = "partners"

    @extend_schema(
        operation_id="partner_exit",
        parameters=[USCC_PARAMETER],
        tags=["partners"],
        **contract_schema(PARTNER_EXIT),
        responses={200: PartnerSerializer, **problem_responses(404, 409, 413, 415)},
    )
    def post(self, request, uscc: str):
        partner = partner_get(member_id=request.user.pk, uscc=_path_uscc(uscc))
        partner_exit(actor=Actor.credential(request.auth), partner=partner, body=_body(request, PARTNER_EXIT))
        return Response(PartnerSerializer(partner_get(member_id=request.user.pk, uscc=uscc)).data)


class FlagSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    uscc = serializers.CharField()
    category = serializers.ChoiceField(choices=PartnerFlag.Category.values)
    description = serializers.CharField()
    evidence_sha256 = serializers.CharField()
    status = serializers.ChoiceField(choices=PartnerFlag.Status.values)
    created_at = serializers.DateTimeField()
    answer_due = serializers.DateField(help_text="The partner may answer until this day.")
    answered = serializers.SerializerMethodField(help_text="Whether the partner answered (its text is the operators').")
    review_note = serializers.CharField(help_text="The operator's note, once reviewed.")
    expires_on = serializers.DateField(allow_null=True, help_text="An accepted flag counts until this day.")

    def get_answered(self, flag) -> bool:
        return bool(flag.answer)


class PartnerFlagListApi(APIView):
    """Flag a partner's misconduct for an operator's review; list the flags you filed on it."""

    required_scope = "partners"

    @extend_schema(
        operation_id="partner_flag_file",
        parameters=[USCC_PARAMETER],
        tags=["partners"],
        **contract_schema(PARTNER_FLAG),
        responses={201: FlagSerializer, **problem_responses(404, 413, 415)},
    )
    def post(self, request, uscc: str):
        body = _body(request, PARTNER_FLAG)
        actor, uscc = Actor.credential(request.auth), _path_uscc(uscc)
        flag = flag_file(actor=actor, member_id=request.user.pk, uscc=uscc, body=body)
        return Response(FlagSerializer(flag).data, status=201)

    @extend_schema(
        operation_id="partner_flag_list",
        tags=["partners"],
        parameters=[USCC_PARAMETER, *PAGE_PARAMETERS],
        responses=page_schema("PartnerFlagPage", FlagSerializer),
    )
    def get(self, request, uscc: str):
        flags = flag_list(member_id=request.user.pk, uscc=_path_uscc(uscc))
        return page_response(self, request, flags, FlagSerializer, NewestFirstPagination)


class PartnerFlagAnswerApi(APIView):
    """Relay the partner's answer to a flag on it (the alert partner_flagged gives the flag's id)."""

    required_scope = "partners"

    class FlagAnsweredSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        answer_due = serializers.DateField()
        answered_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="partner_flag_answer",
        tags=["partners"],
        **contract_schema(PARTNER_FLAG_ANSWER),
        responses={200: FlagAnsweredSerializer, **problem_responses(404, 409, 413, 415)},
    )
    def post(self, request, flag_id: int):
        body = _body(request, PARTNER_FLAG_ANSWER)
        flag = flag_answer(
            actor=Actor.credential(request.auth), member_id=request.user.pk, flag_id=flag_id, answer=body.answer
        )
        return Response(self.FlagAnsweredSerializer(flag).data)


class OriginatedSerializer(serializers.Serializer):
    loans = serializers.IntegerField(help_text="Loan records naming the partner as their origination platform.")
    adverse = serializers.IntegerField(
        help_text="Blacklist, 90-day-delinquent or written-off records naming it as their origination platform."
    )
    adverse_share = serializers.CharField(allow_null=True, help_text="adverse / loans (at most 1); null without loans.")
    consortium_median = serializers.CharField(
        allow_null=True, help_text="The median share over every origination platform records of 2 members name."
    )


class ProfileSerializer(serializers.Serializer):
    class ProfileLicenceSerializer(LicenceSerializer):
        valid = serializers.BooleanField(help_text="valid_to is today or later.")

    uscc = serializers.CharField()
    members = serializers.IntegerField(help_text="How many members have an active entry for the partner.")
    roles = serializers.DictField(
        child=serializers.IntegerField(), help_text="Per role, how many members work with it in that role."
    )
    flags = serializers.DictField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="Accepted flags of the last 24 months by category; null until flags of 2 distinct members count.",
    )
    licences = ProfileLicenceSerializer(many=True)
    originated = OriginatedSerializer(
        allow_null=True, help_text="Its channel's record; null until records of 2 distinct members name it."
    )


class PartnerProfileApi(APIView):
    """What the consortium knows of a partner: counts only, never a member's name (any valid key)."""

    @extend_schema(
        operation_id="partner_profile",
        parameters=[USCC_PARAMETER],
        tags=["partners"],
        responses={200: ProfileSerializer, **problem_responses(404)},
    )
    def get(self, request, uscc: str):
        profile = partner_profile_view(actor=Actor.credential(request.auth), uscc=_path_uscc(uscc))
        return Response(ProfileSerializer(profile).data)
