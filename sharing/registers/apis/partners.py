"""The partner registry (scope partners) and partner profiles (any valid key)."""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.clock import business_today
from core.errors import NotFoundError
from core.openapi import problems, response_example
from members.audit import Actor
from sharing.common.apis import (
    PAGE_PARAMETERS,
    NewestFirstPagination,
    contract_schema,
    json_body,
    page_example,
    page_response,
    page_schema,
)
from sharing.common.contracts import whole
from sharing.registers.contracts import (
    PARTNER,
    PARTNER_EXIT,
    PARTNER_FLAG,
    PARTNER_FLAG_ANSWER,
    PARTNER_UPDATE,
    USCC_PATTERN,
    uscc_rules,
)
from sharing.registers.models import LicenceType, PartnerFlag, PartnerRole
from sharing.registers.review import review_state
from sharing.registers.selectors import flag_list, partner_get, partner_list
from sharing.registers.services import (
    flag_answer,
    flag_file,
    partner_exit,
    partner_profile_view,
    partner_register,
    partner_update,
)


def _body(request, contract):
    body = json_body(request, wrong_type_message=gettext("Send the body as application/json."))
    return contract.parse(body, today=business_today()) if contract.rules else contract.parse(body)


def _path_uscc(uscc: str) -> str:
    """A USCC in the path; one that cannot be valid names no partner (the same 404 as an unknown one)."""
    if uscc_rules(uscc):
        raise NotFoundError(gettext("No member registered a partner with this USCC."))
    return uscc


USCC_PARAMETER = OpenApiParameter(
    "uscc",
    {"type": "string", "pattern": whole(USCC_PATTERN)},
    OpenApiParameter.PATH,
    description=_("The partner's USCC (18 characters, check character included)."),
)


class LicenceSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=LicenceType.values, help_text=_("The kind of licence."))
    number = serializers.CharField(help_text=_("The licence's number."))
    issuer = serializers.CharField(help_text=_("The authority that issued it."))
    valid_to = serializers.DateField(help_text=_("The last day it is valid."))


class ReviewSerializer(serializers.Serializer):
    needed = serializers.BooleanField(
        help_text=_("A licence or the agreement lapsed, or the due diligence is over a year old.")
    )
    reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=["licence_lapsed", "agreement_lapsed", "due_diligence_stale"]),
        help_text=_("Why the entry needs review; empty when it does not."),
    )
    next_date = serializers.DateField(
        allow_null=True,
        help_text=_("The earliest date ahead by which the entry needs review (alerted 30 days before)."),
    )


class PartnerSerializer(serializers.Serializer):
    uscc = serializers.CharField(help_text=_("The partner's unified social credit code."))
    name = serializers.CharField(help_text=_("The partner's registered name."))
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=PartnerRole.values), help_text=_("What it does for you.")
    )
    licences = LicenceSerializer(many=True, source="licences.all", help_text=_("Its licences as you recorded them."))
    due_diligence_on = serializers.DateField(help_text=_("The day your latest due diligence on it ended."))
    agreement_expires_on = serializers.DateField(help_text=_("The last day of your cooperation agreement."))
    public_list_url = serializers.CharField(help_text=_("Where you publish your partner list; empty when none."))
    exited_on = serializers.DateField(allow_null=True, help_text=_("The day the partnership ended; null while active."))
    exit_reason = serializers.CharField(help_text=_("Why it ended; empty while active."))
    review = serializers.SerializerMethodField(
        help_text=_("Whether the entry needs review; never, once the partnership ended.")
    )
    created_at = serializers.DateTimeField(help_text=_("When you registered it."))
    updated_at = serializers.DateTimeField(help_text=_("When you last changed it."))

    @extend_schema_field(ReviewSerializer)
    def get_review(self, partner) -> dict:
        if partner.exited_on is not None:
            return {"needed": False, "reasons": [], "next_date": None}
        return ReviewSerializer(review_state(partner, today=business_today())).data


PARTNER_EXAMPLE = {
    "uscc": "91350100M000100Y43",
    "name": "示例助贷科技有限公司",
    "roles": ["origination_platform", "technology"],
    "licences": [{"type": "icp", "number": "京B2-20260001", "issuer": "北京市通信管理局", "valid_to": "2029-06-30"}],
    "due_diligence_on": "2026-10-15",
    "agreement_expires_on": "2027-12-31",
    "public_list_url": "https://bank.example.cn/partners",
    "exited_on": None,
    "exit_reason": "",
    "review": {"needed": False, "reasons": [], "next_date": "2027-10-15"},
    "created_at": "2026-11-02T02:00:00Z",
    "updated_at": "2026-11-02T02:00:00Z",
}


class PartnerListApi(APIView):
    required_scope = "partners"

    class FilterSerializer(serializers.Serializer):
        needs_review = serializers.BooleanField(
            required=False,
            allow_null=True,
            default=None,
            help_text=_("true: only entries that need review; false: only those that do not."),
        )

    @extend_schema(
        operation_id="partner_register",
        tags=["partners"],
        summary=_("Register a partner"),
        description=_(
            "Register a third-party partner you work with: its USCC, roles, licences, due diligence and agreement. "
            "An entry you ended earlier is taken up again; an active one is a conflict (change it with PUT)."
        ),
        **contract_schema(PARTNER, response_example(PARTNER_EXAMPLE, status=201)),
        responses={201: PartnerSerializer},
        extensions=problems("partner_exists"),
    )
    def post(self, request):
        body = _body(request, PARTNER)
        partner = partner_register(actor=Actor.credential(request.auth), member_id=request.user.pk, body=body)
        return Response(PartnerSerializer(partner_get(member_id=request.user.pk, uscc=partner.uscc)).data, status=201)

    @extend_schema(
        operation_id="partner_list",
        tags=["partners"],
        summary=_("List your partners"),
        description=_(
            "Every partner entry you registered, ended ones too, by USCC; each says whether it needs review."
        ),
        parameters=[FilterSerializer],
        responses={200: PartnerSerializer(many=True)},
        examples=[response_example(PARTNER_EXAMPLE)],  # drf-spectacular lists it
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        partners = partner_list(
            member_id=request.user.pk, needs_review=filters.validated_data["needs_review"], today=business_today()
        )
        return Response(PartnerSerializer(partners, many=True).data)


class PartnerDetailApi(APIView):
    required_scope = "partners"

    @extend_schema(
        operation_id="partner_get",
        tags=["partners"],
        summary=_("Read one of your partner entries"),
        description=_("Another member's entry is the same 404 as a missing one."),
        parameters=[USCC_PARAMETER],
        responses={200: PartnerSerializer},
        examples=[response_example(PARTNER_EXAMPLE)],
        extensions=problems("not_found"),
    )
    def get(self, request, uscc: str):
        return Response(PartnerSerializer(partner_get(member_id=request.user.pk, uscc=_path_uscc(uscc))).data)

    @extend_schema(
        operation_id="partner_update",
        tags=["partners"],
        summary=_("Replace a partner entry"),
        description=_("The same body as the registration without `uscc`: fields and licences are replaced."),
        parameters=[USCC_PARAMETER],
        **contract_schema(PARTNER_UPDATE, response_example(PARTNER_EXAMPLE)),
        responses={200: PartnerSerializer},
        extensions=problems("not_found", "partner_exited"),
    )
    def put(self, request, uscc: str):
        partner = partner_get(member_id=request.user.pk, uscc=_path_uscc(uscc))
        body = _body(request, PARTNER_UPDATE)
        partner_update(actor=Actor.credential(request.auth), partner=partner, body=body)
        return Response(PartnerSerializer(partner_get(member_id=request.user.pk, uscc=uscc)).data)


class PartnerExitApi(APIView):
    required_scope = "partners"

    @extend_schema(
        operation_id="partner_exit",
        tags=["partners"],
        summary=_("End a partnership"),
        description=_("The entry stays, marked ended on the day given; it no longer counts in the partner's profile."),
        parameters=[USCC_PARAMETER],
        **contract_schema(
            PARTNER_EXIT,
            response_example(
                {
                    **PARTNER_EXAMPLE,
                    "exited_on": "2026-11-30",
                    "exit_reason": "合作协议到期不再续签。",
                    "review": {"needed": False, "reasons": [], "next_date": None},
                }
            ),
        ),
        responses={200: PartnerSerializer},
        extensions=problems("not_found", "partner_exited"),
    )
    def post(self, request, uscc: str):
        partner = partner_get(member_id=request.user.pk, uscc=_path_uscc(uscc))
        partner_exit(actor=Actor.credential(request.auth), partner=partner, body=_body(request, PARTNER_EXIT))
        return Response(PartnerSerializer(partner_get(member_id=request.user.pk, uscc=uscc)).data)


class FlagSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("The flag's id."))
    uscc = serializers.CharField(help_text=_("The flagged partner's USCC."))
    category = serializers.ChoiceField(choices=PartnerFlag.Category.values, help_text=_("What the partner did."))
    description = serializers.CharField(help_text=_("What happened, as you wrote it."))
    evidence_sha256 = serializers.CharField(help_text=_("SHA-256 of the evidence file you keep."))
    status = serializers.ChoiceField(
        choices=PartnerFlag.Status.values, help_text=_("pending until an operator accepts or rejects it.")
    )
    created_at = serializers.DateTimeField(help_text=_("When you filed it."))
    answer_due = serializers.DateField(help_text=_("The partner may answer until this day."))
    answered = serializers.SerializerMethodField(
        help_text=_("Whether the partner answered (its text goes to the operators).")
    )
    review_note = serializers.CharField(help_text=_("The operator's note, once reviewed; else empty."))
    expires_on = serializers.DateField(
        allow_null=True, help_text=_("An accepted flag counts in the profile until this day; else null.")
    )

    def get_answered(self, flag) -> bool:
        return bool(flag.answer)


FLAG_EXAMPLE = {
    "id": 12,
    "uscc": "91350100M000100Y43",
    "category": "fraud_packaging",
    "description": "2026年10月经该平台进件的申请中，多笔收入证明为同一模板伪造。",
    "evidence_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "status": "pending",
    "created_at": "2026-12-02T03:00:00Z",
    "answer_due": "2026-12-22",
    "answered": False,
    "review_note": "",
    "expires_on": None,
}


class PartnerFlagListApi(APIView):
    required_scope = "partners"

    @extend_schema(
        operation_id="partner_flag_file",
        tags=["partners"],
        summary=_("Flag a partner's misconduct"),
        description=_(
            "For an operator's review. The members working with the partner are alerted, never told who flagged, "
            "and may relay its answer within 20 days; an accepted flag counts in the partner's profile for "
            "24 months."
        ),
        parameters=[USCC_PARAMETER],
        **contract_schema(PARTNER_FLAG, response_example(FLAG_EXAMPLE, status=201)),
        responses={201: FlagSerializer},
        extensions=problems("not_found"),
    )
    def post(self, request, uscc: str):
        body = _body(request, PARTNER_FLAG)
        actor, uscc = Actor.credential(request.auth), _path_uscc(uscc)
        flag = flag_file(actor=actor, member_id=request.user.pk, uscc=uscc, body=body)
        return Response(FlagSerializer(flag).data, status=201)

    @extend_schema(
        operation_id="partner_flag_list",
        tags=["partners"],
        summary=_("List the flags you filed on a partner"),
        description=_("Your own flags on this partner, newest first, with their review state."),
        parameters=[USCC_PARAMETER, *PAGE_PARAMETERS],
        responses=page_schema("PartnerFlagPage", FlagSerializer),
        examples=[page_example(FLAG_EXAMPLE, path="partners/91350100M000100Y43/flags")],
        extensions=problems("not_found"),
    )
    def get(self, request, uscc: str):
        flags = flag_list(member_id=request.user.pk, uscc=_path_uscc(uscc))
        return page_response(self, request, flags, FlagSerializer, NewestFirstPagination)


class PartnerFlagAnswerApi(APIView):
    required_scope = "partners"

    class FlagAnsweredSerializer(serializers.Serializer):
        id = serializers.IntegerField(help_text=_("The flag's id."))
        answer_due = serializers.DateField(help_text=_("The day the answer was due."))
        answered_at = serializers.DateTimeField(help_text=_("When the answer was received."))

    @extend_schema(
        operation_id="partner_flag_answer",
        tags=["partners"],
        summary=_("Relay a partner's answer to a flag"),
        description=_(
            "Only a member with an active entry for the partner, other than the flagger, may answer (the alert "
            "partner_flagged gives the flag's id); anyone else gets the same 404 as for a missing flag."
        ),
        **contract_schema(
            PARTNER_FLAG_ANSWER,
            response_example({"id": 12, "answer_due": "2026-12-22", "answered_at": "2026-12-05T02:00:00Z"}),
        ),
        responses={200: FlagAnsweredSerializer},
        extensions=problems("not_found", "answer_closed"),
    )
    def post(self, request, flag_id: int):
        body = _body(request, PARTNER_FLAG_ANSWER)
        flag = flag_answer(
            actor=Actor.credential(request.auth), member_id=request.user.pk, flag_id=flag_id, answer=body.answer
        )
        return Response(self.FlagAnsweredSerializer(flag).data)


class OriginatedSerializer(serializers.Serializer):
    loans = serializers.IntegerField(help_text=_("Loan records naming the partner as their origination platform."))
    adverse = serializers.IntegerField(
        help_text=_("Blacklist, 90-day-delinquent or written-off records naming it as their origination platform.")
    )
    adverse_share = serializers.CharField(
        allow_null=True, help_text=_("adverse / loans (at most 1, 4 places); null without loans.")
    )
    consortium_median = serializers.CharField(
        allow_null=True, help_text=_("The median share over every origination platform that records of 2 members name.")
    )


class ProfileSerializer(serializers.Serializer):
    class ProfileLicenceSerializer(LicenceSerializer):
        valid = serializers.BooleanField(help_text=_("valid_to is today or later."))

    uscc = serializers.CharField(help_text=_("The partner's USCC."))
    members = serializers.IntegerField(help_text=_("How many members have an active entry for the partner."))
    roles = serializers.DictField(
        child=serializers.IntegerField(), help_text=_("Per role, how many members work with it in that role.")
    )
    flags = serializers.DictField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text=_("Accepted flags of the last 24 months by category; null until flags of 2 distinct members count."),
    )
    licences = ProfileLicenceSerializer(
        many=True, help_text=_("The licences active entries recorded, each once, with the latest validity.")
    )
    originated = OriginatedSerializer(
        allow_null=True, help_text=_("Its channel's record; null until records of 2 distinct members name it.")
    )


class PartnerProfileApi(APIView):
    @extend_schema(
        operation_id="partner_profile",
        tags=["partners"],
        summary=_("Read a partner's profile"),
        description=_(
            "What the consortium knows of a partner, for any member: counts only, never a member's name. "
            "Each read is an audit event."
        ),
        parameters=[USCC_PARAMETER],
        responses={200: ProfileSerializer},
        examples=[
            response_example(
                {
                    "uscc": "91350100M000100Y43",
                    "members": 3,
                    "roles": {"origination_platform": 2, "technology": 1},
                    "flags": {"fraud_packaging": 2},
                    "licences": [
                        {
                            "type": "icp",
                            "number": "京B2-20260001",
                            "issuer": "北京市通信管理局",
                            "valid_to": "2029-06-30",
                            "valid": True,
                        }
                    ],
                    "originated": {
                        "loans": 1250,
                        "adverse": 41,
                        "adverse_share": "0.0328",
                        "consortium_median": "0.0215",
                    },
                }
            )
        ],
        extensions=problems("not_found"),
    )
    def get(self, request, uscc: str):
        profile = partner_profile_view(actor=Actor.credential(request.auth), uscc=_path_uscc(uscc))
        return Response(ProfileSerializer(profile).data)
