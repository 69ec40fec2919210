"""The platform's side of the recovery drills, run as its own process against the drill cluster
(``python -m tests.deploy.drill_app <step>`` with DATABASE_URL naming both nodes).

- ``publish N``: N changes appended to the verifiable log, with their audit events, then one run of the beat's
  sequencer task (signs a checkpoint, records both heads in the history witness); prints the log's size.
- ``writer SECONDS``: a long-lived worker writing one row every 0.1 s the way a Celery task does (stale
  connections closed before each unit of work, each write one transaction), printing the Unix times of the
  writes that succeeded: it must come back by itself after a failover.
- ``sequence``: one run of the sequencer task; prints its answer and the number of signed checkpoints.
- ``commands NAME…``: management commands in one process; prints each one's exit status.
"""

from __future__ import annotations

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.db import DatabaseError, close_old_connections, connection, transaction  # noqa: E402

from members.audit import Actor, audit_event_record  # noqa: E402
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
    return tasks.log_sequence()


def writer(seconds: float) -> dict:
    """Writes for ``seconds`` after its first write (it prints "ready" then)."""
    succeeded, failed = [], 0
    end = None
    while end is None or time.time() < end:
        close_old_connections()
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO drill_app VALUES (%s)", [time.time()])
            succeeded.append(time.time())
        except DatabaseError:
            failed += 1
        if end is None and succeeded:
            end = time.time() + seconds
            print("ready", flush=True)
        time.sleep(0.1)
    return {"succeeded": succeeded, "failed": failed}


if __name__ == "__main__":
    step, *arguments = sys.argv[1:]
    if step == "publish":
        print(json.dumps(publish(int(arguments[0]))))
    elif step == "writer":
        print(json.dumps(writer(float(arguments[0]))))
    elif step == "sequence":
        from sharing.models import LogCheckpoint

        print(json.dumps({**tasks.log_sequence(), "checkpoints": LogCheckpoint.objects.count()}))
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
