"""Protective registration: lookups answer identity_at_risk while it is in force, never after."""

from __future__ import annotations

import csv
import datetime as dt
import uuid

import pytest
import time_machine
from django.utils import timezone

from core.errors import ConflictError
from members.audit import Actor
from members.models import AuditEvent
from sharing.cli import main
from sharing.models import Lookup, MonitoringEvent, ProtectiveRegistration
from sharing.protection.services import protective_register, protective_renew, protective_withdraw
from sharing.tokens.pepper import pepper_token
from tests.sharing.conftest import blacklist, lookup, new_token, reported

START = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
DESK = Actor.system("desk-test")


def watch(member, token: str, reference: str = "LOAN-1") -> None:
    body = {
        "key_version": 1,
        "consent_reference": "CONSENT-1",
        "watches": [
            {
                "reference": reference,
                "expires_on": (timezone.localdate() + dt.timedelta(days=300)).isoformat(),
                "identifiers": [{"type": "cn_resident_id", "token": token}],
            }
        ],
    }
    response = member.client().post("/api/v1/watches", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code in (200, 201, 202), response.content


def _register(token: str, **kwargs) -> ProtectiveRegistration:
    return protective_register(actor=DESK, tokens=[("cn_resident_id", pepper_token(token))], reason="misused", **kwargs)


def test_lookups_warn_while_the_registration_is_in_force_and_never_after_two_years(member_a, key_v1):
    token, other = new_token(), new_token()
    with time_machine.travel(START, tick=False):
        registration = _register(token)
        first, second = lookup(member_a, [token, other]).json()["results"]
    assert first["identity_at_risk"] == {"since": "2026-03-01"}
    assert first["hit"] is False and first["reporting_members"] == 0  # a protective mark, not a record
    assert second["identity_at_risk"] is None
    with time_machine.travel(START + dt.timedelta(days=729), tick=False):
        assert lookup(member_a, [token]).json()["results"][0]["identity_at_risk"] == {"since": "2026-03-01"}
    with time_machine.travel(dt.datetime(2028, 3, 1, 2, 0, 1, tzinfo=dt.UTC), tick=False):
        assert lookup(member_a, [token]).json()["results"][0]["identity_at_risk"] is None
        # Renewed after it lapsed: in force again, still since the first day.
        protective_renew(actor=DESK, registration_id=registration.pk)
        answer = lookup(member_a, [token]).json()
    assert answer["results"][0]["identity_at_risk"] == {"since": "2026-03-01"}
    # The past answer reads back as it was given.
    past = member_a.client().get(f"/api/v1/lookups/{answer['id']}").json()
    assert past["results"][0]["identity_at_risk"] == {"since": "2026-03-01"}


def test_a_withdrawn_registration_no_longer_shows(member_a, member_b, key_v1):
    token = new_token()
    reported(member_b, [blacklist([token])])
    with time_machine.travel(START, tick=False):
        registration = _register(token)
        assert lookup(member_a, [token]).json()["results"][0]["identity_at_risk"] == {"since": "2026-03-01"}
    with time_machine.travel(START + dt.timedelta(days=30), tick=False):
        protective_withdraw(actor=DESK, registration_id=registration.pk)
        result = lookup(member_a, [token]).json()["results"][0]
    assert result["identity_at_risk"] is None
    assert result["hit"] is True and result["reporting_members"] == 1
    with pytest.raises(ConflictError):
        protective_withdraw(actor=DESK, registration_id=registration.pk)
    actions = list(AuditEvent.objects.filter(action__startswith="protection.").values_list("action", flat=True))
    assert sorted(actions) == ["protection.registered", "protection.withdrawn"]


def test_one_registration_at_a_time_and_the_registering_member_is_never_shown(member_a, member_b, key_v1):
    token = new_token()
    _register(token, member=member_b.institution, consent_reference="CONSENT-1")
    with pytest.raises(ConflictError):
        _register(token)
    result = lookup(member_a, [token]).json()["results"][0]
    assert set(result["identity_at_risk"]) == {"since"}
    assert member_b.institution.name not in str(Lookup.objects.get().answer)


def test_watches_of_other_members_get_an_event(member_a, member_b, key_v1):
    token = new_token()
    watch(member_a, token)
    watch(member_b, token)
    _register(token, member=member_b.institution, consent_reference="CONSENT-2")
    events = list(MonitoringEvent.objects.values_list("member_id", "type", "data"))
    assert len(events) == 1
    member_id, kind, data = events[0]
    assert (member_id, kind) == (member_a.institution.pk, "identity.at_risk")
    assert set(data) == {"since"}


def test_the_lookup_csv_shows_identity_at_risk(live_server, member_a, key_v1, tmp_path, monkeypatch):
    token, other = new_token(), new_token()
    _register(token)
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f"token:cn_resident_id,key_version\n{token},1\n{other},1\n", encoding="utf-8")
    monkeypatch.setenv("RISKSHARE_URL", live_server.url)
    monkeypatch.setenv("RISKSHARE_API_KEY", member_a.key)
    out = tmp_path / "results.csv"
    assert main(["lookup", str(tokens), "--purpose", "post_loan_monitoring", "-o", str(out)]) == 0
    at_risk, clear = csv.DictReader(out.read_text(encoding="utf-8").splitlines())
    today = timezone.localdate().isoformat()
    assert (at_risk["identity_at_risk"], at_risk["identity_at_risk_since"]) == ("true", today)
    assert (clear["identity_at_risk"], clear["identity_at_risk_since"]) == ("false", "")


def test_a_member_registers_its_customer_with_consent_through_the_api(member_a, member_b, key_v1):
    token = new_token()
    body = {
        "identifiers": [{"type": "cn_resident_id", "token": token}],
        "key_version": 1,
        "reason": "stolen",
        "consent_reference": "CONSENT-2026-000456",
    }
    created = member_b.client().post("/api/v1/protective-registrations", body, format="json")
    assert created.status_code == 201, created.content
    assert set(created.json()) == {"id", "since", "expires_at"}
    registration = ProtectiveRegistration.objects.get()
    assert (registration.member_id, registration.channel) == (member_b.institution.pk, "member")
    assert lookup(member_a, [token]).json()["results"][0]["identity_at_risk"] is not None
    again = member_b.client().post("/api/v1/protective-registrations", body, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "already_registered")
    no_consent = member_b.client().post(
        "/api/v1/protective-registrations", {**body, "consent_reference": ""}, format="json"
    )
    assert no_consent.status_code == 400
