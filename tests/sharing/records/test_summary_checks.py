"""The nightly summary check: the tokens of records changed since the last check, and one slice of all in turn."""

from __future__ import annotations

from django.utils import timezone

from sharing.models import Record, SummaryCheck, TokenSummary
from sharing.records.matching import _slice_bounds, summaries_drift_check
from sharing.records.services import batch_process
from sharing.records.tasks import summaries_verify
from sharing.tokens.pepper import pepper_token
from tests.sharing.conftest import overdue, submit


def matched(member, records) -> None:
    response = submit(member, records)
    assert response.status_code == 202, response.content
    assert batch_process(batch_id=response.json()["id"]) is True


def slice_of(peppered: bytes, slices: int) -> int:
    return next(
        n
        for n in range(slices)
        if peppered >= _slice_bounds(n, slices)[0]
        and (_slice_bounds(n, slices)[1] is None or peppered < _slice_bounds(n, slices)[1])
    )


def test_the_slices_cover_every_token_once():
    for slices in (1, 3, 28):
        bounds = [_slice_bounds(n, slices) for n in range(slices)]
        assert bounds[0][0] == b"\x00\x00" and bounds[-1][1] is None
        assert all(bounds[n][1] == bounds[n + 1][0] for n in range(slices - 1))


def test_nightly_checks_find_a_changed_records_drift_at_once_and_any_other_within_the_slices(
    member_a, key_v1, settings
):
    settings.RISKSHARE_SUMMARY_CHECK_SLICES = 4
    tokens = [f"{n:02x}" + "ab" * 31 for n in (0x10, 0x50, 0x90, 0xD0)]
    matched(member_a, [overdue([token], reference=f"R{n}") for n, token in enumerate(tokens)])
    assert summaries_drift_check(fix=False).checked == 4  # the first check is a full one
    first = SummaryCheck.objects.get()
    assert first.full and first.slice == 3

    # A record changed since: its token is checked tonight, whatever the slice.
    changed, untouched = pepper_token(tokens[2]), pepper_token(tokens[3])
    TokenSummary.objects.filter(token__in=[changed, untouched]).update(active_delinquencies=9)
    Record.objects.filter(reference="R2").update(updated_at=timezone.now())
    nights = []
    for _night in range(4):
        report = summaries_verify.apply().get()
        check = SummaryCheck.objects.order_by("-started_at", "-pk").first()
        assert not check.full
        nights.append((check.slice, report["drift"]))
    assert [number for number, _drift in nights] == [0, 1, 2, 3]
    found = dict(nights)
    assert found[0] >= 1  # the changed record's token, on the first night
    untouched_slice = slice_of(untouched, 4)
    assert found[untouched_slice] >= 1  # the untouched one, the night its slice came round
    assert summaries_drift_check(fix=False).drift == 0  # all fixed


def test_a_nightly_check_reads_what_changed_and_its_slice_not_every_summary(member_a, key_v1, settings):
    settings.RISKSHARE_SUMMARY_CHECK_SLICES = 4
    tokens = [f"{n:02x}" + "cd" * 31 for n in range(0, 256, 16)]
    matched(member_a, [overdue([token], reference=f"S{n}") for n, token in enumerate(tokens)])
    summaries_drift_check(fix=False)
    report = summaries_drift_check(fix=False, full=False)
    in_slice = sum(1 for token in tokens if slice_of(pepper_token(token), 4) == 0)
    assert report.checked == in_slice < len(tokens)
