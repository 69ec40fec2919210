"""Lookup limits (atomic under concurrency) and the enumeration watch."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from members.models import AuditEvent
from sharing.lookups.contracts import LOOKUP
from sharing.lookups.quotas import QuotaExceeded, enumeration_watch, quota_usage_purge
from sharing.lookups.services import lookup_answer
from sharing.lookups.tasks import enumeration_watch_task
from sharing.models import ConsortiumKey, Lookup, LookupQuota, MemberFlag, QuotaRefusal, QuotaUsage
from tests.factories import OperatorFactory
from tests.sharing.conftest import blacklist, lookup, new_token, reported


def test_requests_per_minute_answer_429_with_retry_after(member_a, key_v1, settings, fresh_minute):
    settings.RISKSHARE_LOOKUP_REQUESTS_PER_MINUTE = 3
    statuses = [lookup(member_a, [new_token()], purpose="fraud_investigation", consent=None) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    refused = statuses[-1]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_identifiers_per_day_and_member_override(member_a, member_b, key_v1, settings):
    settings.RISKSHARE_LOOKUP_IDENTIFIERS_PER_DAY = 5
    LookupQuota.objects.create(
        member=member_b.institution, requests_per_minute=100, identifiers_per_day=50, updated_by="tests"
    )
    assert lookup(member_a, [new_token() for _ in range(4)]).status_code == 200
    refused = lookup(member_a, [new_token() for _ in range(2)])
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 60
    # The refused request counted nothing: one more identifier still fits, and its request is not
    # in the minute window, which had admitted it before the day window refused (rolled back together).
    assert lookup(member_a, [new_token()]).status_code == 200
    usage = QuotaUsage.objects.filter(credential_id=member_a.credential.pk).values_list("window").annotate(Sum("used"))
    assert dict(usage) == {"minute": 2, "day": 5}
    assert QuotaRefusal.objects.get(credential_id=member_a.credential.pk).refused == 1
    assert lookup(member_b, [new_token() for _ in range(20)]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_no_over_admission_with_50_parallel_clients(member_a, settings):
    ConsortiumKey.objects.create(version=1, check_value="0" * 16, created_by="tests")
    settings.RISKSHARE_LOOKUP_REQUESTS_PER_MINUTE = 1000
    settings.RISKSHARE_LOOKUP_IDENTIFIERS_PER_DAY = 20

    def attempt(_n: int) -> bool:
        body = {
            "purpose": "fraud_investigation",
            "key_version": 1,
            "identifiers": [{"type": "cn_mobile", "token": new_token()}],
        }
        try:
            lookup_answer(credential=member_a.credential, request=LOOKUP.parse(orjson.dumps(body)))
            return True
        except QuotaExceeded:
            return False
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        admitted = sum(pool.map(attempt, range(50)))
    assert admitted == 20
    assert Lookup.objects.count() == 20  # a refused lookup is neither answered nor logged


def test_quota_changes_in_the_admin_are_audited(client, member_a, db):
    operator = OperatorFactory(groups=["reviewer"])
    client.force_login(operator)
    response = client.post(
        reverse("admin:sharing_lookupquota_add"),
        {"member": member_a.institution.pk, "requests_per_minute": 10, "identifiers_per_day": 1000},
    )
    assert response.status_code == 302, response.content[:500]
    quota = LookupQuota.objects.get(member=member_a.institution)
    assert (quota.requests_per_minute, quota.updated_by) == (10, operator.username)
    assert AuditEvent.objects.filter(action="lookup_quota.set", actor_label=operator.username).exists()


def test_enumeration_is_flagged_once_a_day_with_an_audit_event(member_a, member_b, key_v1, settings):
    settings.RISKSHARE_ENUMERATION_WINDOWS = {60: 300}
    for _ in range(3):
        lookup(member_a, [new_token() for _ in range(100)], purpose="fraud_investigation", consent=None)
    lookup(member_b, [new_token() for _ in range(299)], purpose="fraud_investigation", consent=None)
    assert not MemberFlag.objects.exists()  # the watch runs on its own, not in the lookup

    assert enumeration_watch_task() == 1

    flag = MemberFlag.objects.get()
    assert flag.member_id == member_a.institution.pk  # B stayed under the volume that counts
    assert flag.kind == "enumeration" and flag.detail["identifiers"] == 300 and flag.detail["window_minutes"] == 60
    assert AuditEvent.objects.filter(action="member.flagged").count() == 1
    assert enumeration_watch() == []  # already flagged today


def test_ordinary_use_is_not_flagged(member_a, member_b, key_v1, settings):
    settings.RISKSHARE_ENUMERATION_WINDOWS = {60: 40}
    token = new_token()
    reported(member_b, [blacklist([token])])
    lookup(member_a, [token] + [new_token() for _ in range(49)])  # 2 % hits: too many for enumeration
    assert enumeration_watch() == []
    assert not MemberFlag.objects.exists()


def test_hits_on_the_members_own_records_do_not_hide_enumeration(member_a, key_v1, settings):
    settings.RISKSHARE_ENUMERATION_WINDOWS = {60: 40}
    own = new_token()
    reported(member_a, [blacklist([own])])
    lookup(member_a, [own, own] + [new_token() for _ in range(48)])  # 4 % hits, all on its own record
    [flag] = enumeration_watch()
    assert flag.detail == {"window_minutes": 60, "identifiers": 48, "hits": 0, "miss_ratio": 1.0}


def test_a_slow_pace_is_flagged_by_the_day_window(member_a, key_v1, settings):
    settings.RISKSHARE_ENUMERATION_WINDOWS = {60: 100, 1440: 300}
    start = timezone.now() - dt.timedelta(hours=5)
    for hour in range(4):  # 90 an hour stays under the hour's 100; the fourth makes 360 in the day
        with time_machine.travel(start + dt.timedelta(hours=hour), tick=False):
            lookup(member_a, [new_token() for _ in range(90)], purpose="fraud_investigation", consent=None)
            flags = enumeration_watch()
        assert len(flags) == (hour == 3)
    [flag] = flags
    assert flag.detail["window_minutes"] == 1440 and flag.detail["identifiers"] == 360


def test_the_watch_flags_within_a_minute_of_crossing(member_a, key_v1, settings):
    from config.celery import app

    assert app.conf.beat_schedule["enumeration-watch"]["schedule"] == 60.0
    settings.RISKSHARE_ENUMERATION_WINDOWS = {10: 150}
    lookup(member_a, [new_token() for _ in range(100)], purpose="fraud_investigation", consent=None)
    assert enumeration_watch() == []
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=50), tick=False):
        lookup(member_a, [new_token() for _ in range(100)], purpose="fraud_investigation", consent=None)
        flags = enumeration_watch()  # the next beat run after the crossing
    assert len(flags) == 1 and flags[0].detail["window_minutes"] == 10


def test_old_windows_are_purged(member_a, key_v1):
    with time_machine.travel(timezone.now() - dt.timedelta(days=3), tick=False):
        assert lookup(member_a, [new_token()]).status_code == 200
    assert lookup(member_a, [new_token()]).status_code == 200
    assert quota_usage_purge() == 2  # the minute and day windows of three days ago
