"""The move from v1 to v2: progress per member, the cut-over, and what is left under v1."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from sharing.evaluations.selectors import key_version_progress
from sharing.records.models import Record, RecordStatus
from tests.sharing.conftest import lookup, new_token, overdue, reported, submit


def test_the_cut_over_refuses_v1_and_withdraws_what_was_not_re_keyed(key_v2, member_a, member_b):
    assert submit(member_a, [overdue(reference="A-1"), overdue(reference="A-2")]).status_code == 202
    assert submit(member_b, [overdue(reference="B-1")]).status_code == 202
    # Member A re-keys A-1 under v2 (same reference: its tokens are replaced); A-2 and B-1 stay under v1.
    rekeyed = overdue(reference="A-1", key_version=2)
    reported(member_a, [rekeyed])
    progress = {(row.member, row.version): row.records for row in key_version_progress()}
    assert progress == {("Member A", 1): 1, ("Member A", 2): 1, ("Member B", 1): 1}
    out = StringIO()
    call_command("consortium_key_status", stdout=out)
    assert "Member B" in out.getvalue()

    call_command(
        "consortium_key_retire", key_version=1, reason="moved to v2", withdraw_remaining=True, stdout=StringIO()
    )
    statuses = dict(Record.objects.values_list("reference", "status"))
    assert statuses == {"A-1": RecordStatus.ACTIVE, "A-2": RecordStatus.RETRACTED, "B-1": RecordStatus.RETRACTED}
    assert "retired" in Record.objects.get(reference="B-1").retract_reason
    answer = lookup(member_b, [new_token()], key_version=1)
    assert answer.status_code == 400 and "retired_key_version" in str(answer.json())
    # The v2 record is what a v2 lookup finds.
    token = rekeyed["identifiers"][0]["token"]
    assert lookup(member_b, [token], key_version=2).json()["results"][0]["hit"] is True
