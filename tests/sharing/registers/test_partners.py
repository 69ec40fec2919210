"""The partner registry: members' own entries, flags and their review clock, and the profile that counts."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from core.clock import business_today
from members.audit import Actor
from members.models import AuditEvent
from sharing.models import Alert, Partner, PartnerFlag, Record
from sharing.registers.services import flag_review, partner_review_alerts
from tests.conftest import issue
from tests.factories import InstitutionFactory, OperatorFactory

USCC = "91350100M000100Y43"
OTHER_USCC = "91110108MA01C0DE15"
DIGEST = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def entry(**overrides) -> dict:
    today = business_today()
    body = {
        "uscc": USCC,
        "name": "示例助贷科技有限公司",
        "roles": ["origination_platform"],
        "licences": [
            {
                "type": "icp",
                "number": "京B2-1",
                "issuer": "北京市通信管理局",
                "valid_to": str(today.replace(year=today.year + 2)),
            }
        ],
        "due_diligence_on": str(today - dt.timedelta(days=30)),
        "agreement_expires_on": str(today.replace(year=today.year + 1)),
    }
    body.update(overrides)
    return body


def register(member, **overrides):
    return member.client().post("/api/v1/partners", entry(**overrides), format="json")


def flag(member, uscc=USCC, **overrides):
    body = {"category": "fraud_packaging", "description": "进件材料系伪造。", "evidence_sha256": DIGEST, **overrides}
    return member.client().post(f"/api/v1/partners/{uscc}/flags", body, format="json")


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("seq", "id").values_list("action", flat=True))


def test_a_member_registers_updates_and_ends_a_partnership_seen_only_by_itself(member_a, member_b):
    created = register(member_a, public_list_url="https://bank.example.cn/partners")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["uscc"] == USCC and body["review"] == {
        "needed": False,
        "reasons": [],
        "next_date": body["review"]["next_date"],
    }
    assert body["licences"][0]["number"] == "京B2-1" and body["public_list_url"].startswith("https://")

    assert register(member_a).status_code == 409
    assert register(member_a).json()["code"] == "partner_exists"
    # Another member sees none of it: its own list is empty and the entry is a 404 like a missing one.
    assert member_b.client().get("/api/v1/partners").json() == []
    theirs = member_b.client().get(f"/api/v1/partners/{USCC}")
    missing = member_b.client().get(f"/api/v1/partners/{OTHER_USCC}")
    assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json()

    update = {
        key: value for key, value in entry(roles=["co_lender", "technology"], licences=[]).items() if key != "uscc"
    }
    changed = member_a.client().put(f"/api/v1/partners/{USCC}", update, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["roles"] == ["co_lender", "technology"] and changed.json()["licences"] == []

    ended = member_a.client().post(
        f"/api/v1/partners/{USCC}/exit", {"date": str(business_today()), "reason": "协议到期"}, format="json"
    )
    assert ended.status_code == 200 and ended.json()["exited_on"] == str(business_today())
    assert ended.json()["review"] == {"needed": False, "reasons": [], "next_date": None}
    again = member_a.client().post(
        f"/api/v1/partners/{USCC}/exit", {"date": str(business_today()), "reason": "x"}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "partner_exited"
    assert member_a.client().put(f"/api/v1/partners/{USCC}", update, format="json").json()["code"] == "partner_exited"
    # Registering it again takes the partnership up again.
    assert register(member_a).status_code == 201
    assert Partner.objects.get(member=member_a.institution).exited_on is None
    assert actions().count("partner.registered") == 2
    assert {"partner.updated", "partner.exited"} <= set(actions())


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"uscc": "91350100M000100Y44"}, "/uscc", "bad_uscc"),
        ({"uscc": "91350100M000100Y4"}, "/uscc", "bad_uscc"),
        ({"roles": ["co_lender", "co_lender"]}, "/roles", "duplicate_value"),
        ({"roles": []}, "/roles", "bad_count"),
        ({"roles": ["broker"]}, "/roles/0", "invalid_choice"),
        ({"due_diligence_on": "2999-01-01"}, "/due_diligence_on", "future_date"),
        ({"public_list_url": "http://bank.example.cn/list"}, "/public_list_url", "bad_url"),
        ({"name": "   "}, "/name", "bad_text"),
        ({"licences": [{"type": "icp", "number": "1", "issuer": "x"}]}, "/licences/0/valid_to", "required"),
        ({"owner": "me"}, "/owner", "unknown_field"),
    ],
)
def test_a_bad_entry_is_refused_field_by_field_and_nothing_is_written(member_a, overrides, field, code):
    response = register(member_a, **overrides)
    assert response.status_code == 400, response.content
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in response.json()["errors"]
    ]
    assert not Partner.objects.exists()


def test_a_uscc_in_the_path_that_cannot_be_valid_names_no_partner(member_a):
    register(member_a)
    for wrong in ("not-a-uscc", "91350100M000100Y44"):
        response = member_a.client().get(f"/api/v1/partners/{wrong}/profile")
        assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_the_scope_partners_is_needed_for_the_registry_but_not_for_a_profile(member_a, db):
    lookups_only = issue(member_a.institution, scopes=["lookups"])
    assert register(lookups_only).status_code == 403
    assert register(member_a).status_code == 201
    assert lookups_only.client().get(f"/api/v1/partners/{USCC}/profile").status_code == 200


def test_an_entry_needs_review_when_a_licence_or_the_agreement_lapses_or_due_diligence_is_a_year_old(member_a):
    today = business_today()
    register(member_a)
    register(
        member_a,
        uscc=OTHER_USCC,
        licences=[
            {"type": "microlending", "number": "M-1", "issuer": "金融局", "valid_to": str(today - dt.timedelta(days=1))}
        ],
        agreement_expires_on=str(today - dt.timedelta(days=3)),
        due_diligence_on=str(today.replace(year=today.year - 1) - dt.timedelta(days=1)),
    )
    needing = member_a.client().get("/api/v1/partners?needs_review=true").json()
    assert [p["uscc"] for p in needing] == [OTHER_USCC]
    assert needing[0]["review"]["reasons"] == ["agreement_lapsed", "due_diligence_stale", "licence_lapsed"]
    assert [p["uscc"] for p in member_a.client().get("/api/v1/partners?needs_review=false").json()] == [USCC]


def test_members_are_alerted_thirty_days_before_a_date_falls_due_once(member_a):
    register(member_a, agreement_expires_on=str(business_today() + dt.timedelta(days=100)))
    entry_ = Partner.objects.get()
    due = entry_.agreement_expires_on
    with time_machine.travel(dt.datetime.combine(due - dt.timedelta(days=31), dt.time(4), tzinfo=dt.UTC), tick=False):
        assert partner_review_alerts() == 0
    with time_machine.travel(dt.datetime.combine(due - dt.timedelta(days=30), dt.time(4), tzinfo=dt.UTC), tick=False):
        assert partner_review_alerts() == 1
        assert partner_review_alerts() == 0  # a rerun the same day finds the alert it wrote
    alert = member_a.client().get("/api/v1/alerts").json()["results"][0]
    assert alert["kind"] == "partner_review_due"
    assert alert["payload"] == {"uscc": USCC, "name": entry_.name, "what": "agreement", "due": str(due)}
    assert "partners.review_alerted" in actions()


@pytest.fixture
def member_c(db):
    return issue(InstitutionFactory())


def test_a_flag_is_relayed_to_the_partners_registrants_without_naming_who_flagged(member_a, member_b, member_c):
    register(member_a)
    filed = flag(member_b)
    assert filed.status_code == 201, filed.content
    flag_id = filed.json()["id"]
    assert filed.json()["status"] == "pending" and filed.json()["answered"] is False
    alert = Alert.objects.get(member=member_a.institution, kind="partner_flagged")
    assert alert.payload["flag"] == flag_id and alert.payload["category"] == "fraud_packaging"
    text = str(alert.payload)
    assert member_b.institution.uscc not in text and member_b.institution.name not in text
    # Nobody else is alerted, and only the flagger lists its flag.
    assert not Alert.objects.filter(member__in=[member_b.institution, member_c.institution]).exists()
    assert member_a.client().get(f"/api/v1/partners/{USCC}/flags").json()["results"] == []
    assert member_b.client().get(f"/api/v1/partners/{USCC}/flags").json()["results"][0]["id"] == flag_id

    answer = {"answer": "该渠道已停止进件。"}
    # The flagger and a member without an entry cannot answer: the same 404 as a missing flag.
    for outsider in (member_b, member_c):
        refused = outsider.client().post(f"/api/v1/partner-flags/{flag_id}/answer", answer, format="json")
        assert refused.status_code == 404
    relayed = member_a.client().post(f"/api/v1/partner-flags/{flag_id}/answer", answer, format="json")
    assert relayed.status_code == 200, relayed.content
    twice = member_a.client().post(f"/api/v1/partner-flags/{flag_id}/answer", answer, format="json")
    assert twice.status_code == 409 and twice.json()["code"] == "answer_closed"
    assert member_b.client().get(f"/api/v1/partners/{USCC}/flags").json()["results"][0]["answered"] is True
    assert {"partner_flag.filed", "partner_flag.answered"} <= set(actions())


def test_a_flag_on_a_partner_nobody_registered_is_a_404(member_b):
    assert flag(member_b, uscc=OTHER_USCC).status_code == 404
    assert flag(member_b, evidence_sha256="ABC").json()["errors"][0]["code"] == "bad_digest"


def test_an_operator_decides_after_the_answer_or_the_twenty_days_and_accepted_flags_count_for_two_years(
    member_a, member_b, member_c
):
    register(member_a)
    operator = Actor.operator(OperatorFactory())
    first = PartnerFlag.objects.get(pk=flag(member_b).json()["id"])
    with pytest.raises(Exception) as refused:
        flag_review(actor=operator, flag=first, accept=True, note="证据充分")
    assert refused.value.code == "answer_pending"
    later = dt.datetime.combine(first.answer_due + dt.timedelta(days=1), dt.time(4), tzinfo=dt.UTC)
    with time_machine.travel(later, tick=False):
        reviewed = flag_review(actor=operator, flag=first, accept=True, note="证据充分")
        assert reviewed.status == "accepted" and reviewed.expires_on == first.answer_due.replace(
            year=first.answer_due.year + 2
        ) + dt.timedelta(days=1)
        with pytest.raises(Exception) as again:
            flag_review(actor=operator, flag=reviewed, accept=False, note="x")
        assert again.value.code == "already_reviewed"
        # One member's accepted flag is not shown (it would point at that member); two members' are.
        profile = member_c.client().get(f"/api/v1/partners/{USCC}/profile").json()
        assert profile["flags"] is None
        second = PartnerFlag.objects.get(pk=flag(member_c, category="illegal_collection").json()["id"])
        answered = member_a.client().post(
            f"/api/v1/partner-flags/{second.pk}/answer", {"answer": "否认"}, format="json"
        )
        assert answered.status_code == 200
        flag_review(actor=operator, flag=second, accept=True, note="属实")
        profile = member_c.client().get(f"/api/v1/partners/{USCC}/profile").json()
        assert profile["flags"] == {"fraud_packaging": 1, "illegal_collection": 1}
    # Two years on, the first no longer counts, and one member's flag alone is hidden again.
    with time_machine.travel(later.replace(year=later.year + 2) + dt.timedelta(days=2), tick=False):
        assert member_c.client().get(f"/api/v1/partners/{USCC}/profile").json()["flags"] is None
    assert actions().count("partner_flag.reviewed") == 2


def test_the_profile_counts_members_and_roles_and_names_none(member_a, member_b, member_c):
    register(member_a, roles=["origination_platform", "technology"])
    register(member_b, roles=["technology"], licences=[])
    register(member_c, roles=["collection"])
    member_c.client().post(
        f"/api/v1/partners/{USCC}/exit", {"date": str(business_today()), "reason": "x"}, format="json"
    )
    response = member_b.client().get(f"/api/v1/partners/{USCC}/profile")
    assert response.status_code == 200
    profile = response.json()
    assert profile["members"] == 2
    assert profile["roles"] == {"origination_platform": 1, "technology": 2}
    assert [(lic["type"], lic["valid"]) for lic in profile["licences"]] == [("icp", True)]
    text = response.content.decode()
    for member in (member_a, member_b, member_c):
        assert member.institution.uscc not in text and member.institution.name not in text
    assert AuditEvent.objects.filter(action="partner.profile_viewed").count() == 1
    assert member_a.client().get(f"/api/v1/partners/{OTHER_USCC}/profile").status_code == 404


def test_operators_see_the_registry_the_flag_queue_and_the_licence_expiry_list(client, member_a, member_b):
    register(member_a)
    flag_id = flag(member_b).json()["id"]
    operator = OperatorFactory(is_superuser=True)
    client.force_login(operator)
    partner = Partner.objects.get()
    page = client.get(
        reverse("admin:sharing_partner_change", args=[partner.pk]), headers={"accept-language": "zh-hans"}
    )
    assert page.status_code == 200 and "1 条待审核" in page.content.decode()
    queue = client.get(reverse("admin:sharing_partnerflag_changelist") + "?clock=waiting")
    assert queue.status_code == 200 and f">{flag_id}<" in queue.content.decode()
    licences = client.get(reverse("admin:sharing_partnerlicence_changelist"))
    assert licences.status_code == 200 and "京B2-1" in licences.content.decode()
    # The review action refuses while the partner may still answer, and says why.
    response = client.post(
        reverse("admin:sharing_partnerflag_changelist"),
        {"action": "review", "_selected_action": [flag_id], "apply": "1", "decision": "accept", "note": "属实"},
        follow=True,
    )
    assert response.status_code == 200
    assert PartnerFlag.objects.get().status == "pending"
    assert "answer_pending" not in response.content.decode()


def test_records_name_their_origination_platform_and_the_profile_shows_the_channel_beside_the_median(
    member_a, member_b, member_c, key_v1
):
    from tests.sharing.conftest import blacklist, loan, overdue, reported, submit

    register(member_a)
    register(member_b, roles=["technology"])
    # Only a registered origination platform of the member's may be named; per-row errors otherwise.
    refused = submit(member_b, [loan(origination_partner=USCC), loan(origination_partner="9135O100M000100Y43")])
    assert refused.status_code == 202, refused.content
    codes = [(e["index"], e["field"], e["code"]) for e in refused.json()["errors"]]
    assert codes == [(0, "/origination_partner", "unknown_partner"), (1, "/origination_partner", "bad_uscc")]

    reported(member_a, [loan(origination_partner=USCC) for _ in range(3)] + [blacklist(origination_partner=USCC)])
    assert Record.objects.filter(origination_partner=USCC).count() == 4
    # One member's records alone are not shown: they would tell that member's volume.
    assert member_c.client().get(f"/api/v1/partners/{USCC}/profile").json()["originated"] is None

    member_b.client().put(
        f"/api/v1/partners/{USCC}",
        {k: v for k, v in entry(roles=["origination_platform"]).items() if k != "uscc"},
        format="json",
    )
    reported(member_b, [loan(origination_partner=USCC), overdue(origination_partner=USCC, overdue_days=95)])
    reported(member_b, [overdue(origination_partner=USCC, overdue_days=30)])  # not yet 90 days: not adverse
    profile = member_c.client().get(f"/api/v1/partners/{USCC}/profile").json()
    assert profile["originated"] == {
        "loans": 4,
        "adverse": 2,
        "adverse_share": "0.5000",
        "consortium_median": "0.5000",
    }


def test_every_change_of_the_registers_appends_a_leaf_to_the_log(member_a, member_b, db):
    from sharing.models import LogLeaf
    from sharing.tlog import leaf
    from sharing.tlog.selectors import log_pending_count
    from sharing.tlog.services import log_sequence
    from tests.sharing.registers.test_policies import publish

    register(member_a)
    member_a.client().put(f"/api/v1/partners/{USCC}", {k: v for k, v in entry().items() if k != "uscc"}, format="json")
    flag_id = flag(member_b).json()["id"]
    member_a.client().post(f"/api/v1/partner-flags/{flag_id}/answer", {"answer": "否认"}, format="json")
    flag_review(actor=Actor.operator(OperatorFactory()), flag=PartnerFlag.objects.get(), accept=False, note="证据不足")
    member_a.client().post(
        f"/api/v1/partners/{USCC}/exit", {"date": str(business_today()), "reason": "x"}, format="json"
    )
    assert publish(member_a).status_code == 201
    log_sequence()
    kinds = list(LogLeaf.objects.order_by("index").values_list("kind", "member_id", "record_id"))
    a, b = member_a.institution.pk, member_b.institution.pk
    assert kinds == [
        (leaf.PARTNER_ADDED, a, None),
        (leaf.PARTNER_UPDATED, a, None),
        (leaf.FLAG_FILED, b, None),
        (leaf.FLAG_ANSWERED, a, None),
        (leaf.FLAG_REVIEWED, None, None),  # the platform's own change names no member
        (leaf.PARTNER_EXITED, a, None),
        (leaf.POLICY_PUBLISHED, a, None),
    ]
    # The digests are the entry's salted reference and change, so the sequencer numbers them like any leaf.
    partner = Partner.objects.get()
    first = LogLeaf.objects.order_by("id").first()
    assert bytes(first.reference_digest) == leaf.salted(bytes(partner.log_salt), f"partner:{USCC}".encode())
    assert first.index == 0 and log_pending_count() == 0
