"""The admin index is a dashboard: what needs an operator, each count a link to the list it counts."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from core.clock import business_today
from members.services import credential_issue
from sharing.models import Batch, Dispute, MemberFlag
from tests.factories import InstitutionFactory, OperatorFactory
from tests.sharing.conftest import blacklist, lookup, new_token, reported
from tests.sharing.disputes.test_disputes import file


@pytest.fixture
def chief(db):
    return OperatorFactory(groups=["reviewer", "credential_admin", "dispute_handler", "auditor"])


def lines(response) -> dict[str, tuple[int, str]]:
    return {line.label: (line.count, line.url) for panel in response.context["panels"] for line in panel.lines}


def listed(client, url) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return len(response.context["cl"].result_list)


def test_each_count_is_the_length_of_the_list_it_links_to(client, chief, member_a, member_b, key_v1):
    tokens = [new_token() for _ in range(3)]
    reported(member_b, [blacklist([token]) for token in tokens])
    for token, age in zip(tokens, [16, 25, 2], strict=True):
        with time_machine.travel(timezone.now() - dt.timedelta(days=age), tick=False):
            assert file(member_a, [token]).status_code == 201
    InstitutionFactory(licence_expiry=business_today() + dt.timedelta(days=30))
    InstitutionFactory(licence_expiry=business_today() + dt.timedelta(days=90))
    from members.audit import Actor

    credential_issue(
        actor=Actor.system("tests"),
        institution=member_a.institution,
        name="short",
        scopes=["lookups"],
        expires_at=timezone.now() + dt.timedelta(days=10),
    )
    stuck = Batch.objects.order_by("pk").first()
    Batch.objects.filter(pk=stuck.pk).update(status="processing", updated_at=timezone.now() - dt.timedelta(hours=1))
    MemberFlag.objects.create(member=member_a.institution, kind="enumeration", day=business_today())
    client.force_login(chief)

    response = client.get(reverse("admin:index"), headers={"accept-language": "zh-hans"})

    found = lines(response)
    counts = {label: count for label, (count, _url) in found.items()}
    assert counts["已逾期的异议"] == 1
    assert counts["5 天内到期的异议"] == 1
    assert counts["超过巡检间隔仍处于已接收/处理中的批次"] == 1
    assert counts["许可证 60 天内到期的正常会员"] == 1
    assert counts["30 天内到期的有效凭证"] == 1
    assert counts["今日新增的机构预警（疑似遍历查询）"] == 1
    for label, (count, url) in found.items():
        if "配额" not in label:
            assert listed(client, url) == count, label
    assert Dispute.objects.filter(status="open").count() == 3


def test_the_charts_are_drawn_on_the_server_with_the_last_30_days(client, chief, member_a, key_v1):
    reported(member_a, [blacklist() for _ in range(4)])
    lookup(member_a, [new_token(), new_token()])
    client.force_login(chief)
    content = client.get(reverse("admin:index")).content.decode()
    dashboard = content.split('id="dashboard"')[1].split('id="content-related"')[0]
    assert dashboard.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox') == 2 and "<script" not in dashboard
    today = business_today()
    assert f"{today:%m-%d} · 记录 4" in content
    assert f"{today:%m-%d} · 命中数 0 · 未命中 2" in content


def test_an_operator_sees_only_the_panels_of_their_permissions(client, db):
    client.force_login(OperatorFactory(groups=["credential_admin"]))
    found = lines(client.get(reverse("admin:index"), headers={"accept-language": "zh-hans"}))
    assert set(found) == {"许可证 60 天内到期的正常会员", "30 天内到期的有效凭证"}


def test_failing_webhook_endpoints_and_dead_letters_are_on_the_dashboard(client, chief, member_a, settings):
    from members.audit import Actor
    from sharing.models import WebhookDelivery, WebhookEndpoint
    from sharing.monitoring.services import endpoint_create, endpoint_test

    settings.RISKSHARE_WEBHOOK_ALLOW_HOSTS = frozenset({"127.0.0.1"})
    endpoint, _secret = endpoint_create(
        actor=Actor.system("tests"), member_id=member_a.institution.pk, url="https://127.0.0.1:9/hook", types=[]
    )
    delivery = endpoint_test(actor=Actor.system("tests"), endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.DEAD)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(status=WebhookEndpoint.Status.FAILING)
    client.force_login(chief)

    found = lines(client.get(reverse("admin:index"), headers={"accept-language": "zh-hans"}))

    failing = next(value for label, value in found.items() if "失败" in label and "端点" in label)
    dead = next(value for label, value in found.items() if "死信" in label)
    assert failing[0] == 1 and dead[0] == 1
    assert listed(client, failing[1]) == 1


def test_relief_running_is_counted_by_kind_and_each_count_lists_its_records(client, chief, member_a, key_v1):
    from tests.sharing.conftest import days_ago, loan, overdue

    extension = loan(relief="extension", relief_start="2025-09-01", new_maturity_date="2027-01-01")
    reported(
        member_a,
        [
            extension,
            overdue(relief="deferral", relief_start="2025-08-01"),
            overdue(relief="deferral", relief_start="2025-08-01", event_date="2025-07-01"),
            overdue(relief="deferral", relief_start="2025-08-01", relief_end=days_ago(1)),  # ended
            overdue(),
        ],
    )
    client.force_login(chief)
    found = lines(client.get(reverse("admin:index"), headers={"accept-language": "zh-hans"}))
    counts = {label: count for label, (count, _url) in found.items() if label.startswith("进行中的")}
    assert counts == {"进行中的展期": 1, "进行中的延期还款": 2, "进行中的债务重组": 0, "进行中的减少还款额": 0}
    for label, (count, url) in found.items():
        if label in counts:
            assert listed(client, url) == count, label
    # The record list shows the arrangement, running or ended.
    page = client.get(reverse("admin:sharing_record_changelist"), headers={"accept-language": "zh-hans"})
    content = page.content.decode()
    assert "延期还款，自 2025-08-01 起" in content and f"延期还款，2025-08-01 至 {days_ago(1)}" in content
