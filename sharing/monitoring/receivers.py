"""Monitoring listens to records and disputes: their signals become watch events in their transaction.

Connected when ``SharingConfig.ready`` imports this module. Without it no watch would ever hear of a change:
the monitoring event tests fail, and ``tests/sharing/monitoring/test_events.py`` checks both are connected.
"""

from __future__ import annotations

from django.dispatch import receiver

from sharing.disputes.signals import dispute_changed
from sharing.monitoring.events import at_risk_events_produce, dispute_events_produce, watch_events_produce
from sharing.protection.signals import registration_made
from sharing.records.signals import summaries_recomputed


@receiver(summaries_recomputed, dispatch_uid="monitoring.watch_events_on_summaries")
def watch_events_on_summaries(sender, *, tokens: bytes, **kwargs) -> None:
    # Sent after the chunk's range locks: the event lock is taken last, as events.py requires.
    watch_events_produce(tokens)


@receiver(dispute_changed, dispatch_uid="monitoring.watch_events_on_dispute")
def watch_events_on_dispute(sender, *, dispute_id: int, type: str, outcome: str | None, **kwargs) -> None:
    dispute_events_produce(dispute_id=dispute_id, type=type, outcome=outcome)


@receiver(registration_made, dispatch_uid="monitoring.watch_events_on_protective_registration")
def watch_events_on_protective_registration(sender, *, registration_id: int, **kwargs) -> None:
    at_risk_events_produce(registration_id=registration_id)
