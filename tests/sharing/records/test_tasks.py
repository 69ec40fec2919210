"""The batch task's retries: what a Citus worker lost mid-matching costs."""

from __future__ import annotations

import pytest
from django.db import InternalError, OperationalError

from sharing.records import tasks
from tests.test_outage import citus_node_lost_error


@pytest.mark.parametrize(
    ("context", "raised", "retried"),
    [
        # A worker node gone under the matching's transaction: an outage, retried with the task's backoff.
        ("while executing command on 127.0.0.1:5782", OperationalError, True),
        # The coordinator's own internal error is a fault, not an outage: no retry (the sweep has it later).
        ("PL/pgSQL function sharing_guard() line 3 at RAISE", InternalError, False),
    ],
)
def test_a_citus_node_lost_while_matching_is_retried(monkeypatch, context, raised, retried):
    def fails(*, batch_id: int) -> bool:
        # Stands in for the database: the error psycopg raises when Citus reports the node lost.
        raise citus_node_lost_error(context)

    monkeypatch.setattr(tasks, "batch_process_service", fails)
    # Called directly, the task's autoretry hands back the exception it would have retried on.
    with pytest.raises(raised) as error:
        tasks.batch_process(7)
    assert isinstance(error.value, tasks.batch_process.autoretry_for) is retried
