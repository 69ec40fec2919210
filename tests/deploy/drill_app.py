"""The platform's side of the recovery drills and of the Citus flow, run as its own process against the drill
cluster (``python -m tests.deploy.drill_app <step>`` with DATABASE_URL naming both nodes) or the Citus
coordinator.

- ``publish N``: N changes appended to the verifiable log, with their audit events, then one run of the beat's
  audit chain job and of its sequencer job (signs a checkpoint, records both heads in the history witness);
  prints its answer with the size of the latest signed checkpoint (a worker's job may have signed it first).
- ``sequence``: one run of the sequencer task; prints its answer and the number of signed checkpoints.
- ``commands NAME…``: management commands in one process; prints each one's exit status.
- ``match ID…``: matches the batches (``batch_process``, what the worker's job calls); prints whether each
  call did the work.
"""

from __future__ import annotations

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import transaction  # noqa: E402

from members.audit import Actor, audit_chain_sequence, audit_event_record  # noqa: E402
from sharing.models import LogCheckpoint  # noqa: E402
from sharing.tlog import leaf, tasks  # noqa: E402
from sharing.tlog.services import register_change_log  # noqa: E402


def publish(count: int) -> dict:
    with transaction.atomic():
        for _ in range(count):
            reference = f"drill:{os.urandom(6).hex()}"
            register_change_log(
                kind=leaf.REPORTED, member_id=None, reference=reference, salt=os.urandom(16), change={"n": reference}
            )
            audit_event_record(actor=Actor.system("recovery drill"), action="drill.change", payload={"ref": reference})
    # The beat chains the audit events every 5 s and sequences the log every 10 s: chained first here, so that
    # the audit head the sequencer records outside the database includes these events, as it would in a minute.
    audit_chain_sequence()
    answer = tasks.log_sequence()
    latest = LogCheckpoint.objects.order_by("-size").values_list("size", flat=True).first()
    return {**answer, "checkpoint": latest}


if __name__ == "__main__":
    step, *arguments = sys.argv[1:]
    if step == "publish":
        print(json.dumps(publish(int(arguments[0]))))
    elif step == "sequence":
        print(json.dumps({**tasks.log_sequence(), "checkpoints": LogCheckpoint.objects.count()}))
    elif step == "match":
        from sharing.records.services import batch_process

        print(json.dumps({batch_id: batch_process(batch_id=int(batch_id)) for batch_id in arguments}))
    elif step == "commands":
        from django.core.management import CommandError, call_command

        statuses = {}
        for name in arguments:
            try:
                call_command(name)
                statuses[name] = 0
            except CommandError as error:
                print(f"{name}: {error}", file=sys.stderr)
                statuses[name] = 1
        print(json.dumps(statuses))
