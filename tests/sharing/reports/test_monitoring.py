"""The monitoring section of the self-inspection report."""

from __future__ import annotations

from sharing.models import WebhookDelivery
from sharing.monitoring.delivery import deliveries_run
from sharing.reports.base import ReportContext
from sharing.reports.monitoring import monitoring
from tests.sharing.conftest import new_token, reported
from tests.sharing.monitoring.test_events import mobile
from tests.sharing.monitoring.test_watches import put_watches, watch
from tests.sharing.reports.test_reports import today_period


def test_section_counts_watches_events_by_type_and_deliveries(member_a, member_b, key_v1, receiver):
    tokens = [new_token() for _ in range(3)]
    put_watches(member_a, [watch(f"LOAN-{i}", [new_token(), t]) for i, t in enumerate(tokens)])
    member_a.client().post("/api/v1/webhook-endpoints", {"url": receiver.url}, format="json")
    record = mobile([tokens[0]], overdue_days=40)
    reported(member_b, [record, mobile([tokens[1]])])
    reported(member_b, [{**record, "overdue_days": 95}])
    receiver.answer = lambda n, message_id: (200, {}) if n < 2 else (503, {})
    deliveries_run()
    assert WebhookDelivery.objects.filter(status="dead").count() == 1

    sections = monitoring(ReportContext(today_period(), [member_a.institution.pk, member_b.institution.pk]))
    mine, theirs = sections[member_a.institution.pk], sections[member_b.institution.pk]
    assert mine.rows == [["delinquency.escalated", 1], ["record.reported", 2]]
    summary = mine.summary
    assert (summary["active_watches"], summary["events"], summary["deliveries"]) == (3, 3, 3)
    assert (summary["deliveries_delivered"], summary["deliveries_dead"]) == (2, 1)
    assert summary["delivery_failure_rate"] == round(1 / 3, 6)
    assert summary["median_delivery_delay_seconds"] >= 0
    assert theirs.summary["events"] == 0 and theirs.rows == []
