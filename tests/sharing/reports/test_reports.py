"""Self-inspection reports: numbers equal the database, one member's rows only, signed files, audited access."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from io import StringIO

import openpyxl
import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum
from django.urls import reverse

from core.clock import business_today
from members.audit import Actor
from members.models import AuditEvent, Credential
from sharing import cli
from sharing.common.signing import public_key_pem, signing_key_fingerprint
from sharing.models import Batch, Lookup, LookupQuota, MemberFlag, QuotaRefusal, QuotaUsage, Record, Report
from sharing.reports.base import Period
from sharing.reports.sections import SECTIONS
from sharing.reports.services import report_generate, reports_generate
from sharing.reports.verify import report_verify
from tests.admin_pages import form_nonce
from tests.conftest import issue
from tests.factories import InstitutionFactory
from tests.sharing.conftest import blacklist, days_ago, lookup, new_token, overdue, submit

SYSTEM = Actor.system("tests")
CORE_SECTIONS = ["submissions", "timeliness", "lookups", "credentials", "volumes", "peers"]
EXPECTED_FILES = {"summary.json", "report.xlsx", "log.json", "manifest.json", "manifest.sig"} | {
    f"{section.name}.csv" for section in SECTIONS
}
LISTED = len(EXPECTED_FILES) - 2  # all but the manifest and its signature


def today_period() -> Period:
    today = business_today()
    return Period(today, today + dt.timedelta(days=1))


def generate(member, period: Period | None = None) -> Report:
    period = period or today_period()
    return report_generate(member=member.institution, period_start=period.start, period_end=period.end, actor=SYSTEM)


def unzip(report: Report) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bytes(report.content))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def csv_rows(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files[name].decode("utf-8-sig"))))


def activity(member, *, late: int = 1) -> None:
    """Submissions with rejections, an update, a resolution, a retraction, and lookups of two purposes."""
    records = [overdue(event_date=days_ago(5)) for _ in range(3)]
    records += [overdue(event_date=days_ago(60)) for _ in range(late)]
    records += [blacklist(), overdue(overdue_amount="1.234"), blacklist(category="overdue", reference="bad:1")]
    assert submit(member, records).status_code == 202
    changed = dict(records[0], overdue_days=99)
    assert submit(member, [changed, overdue(reference="x" * 65)]).status_code == 202
    client = member.client()
    assert (
        client.post(
            f"/api/v1/records/{records[1]['reference']}/resolve", {"resolved_date": days_ago(1)}, format="json"
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/api/v1/records/{records[2]['reference']}/retract", {"reason": "sent in error"}, format="json"
        ).status_code
        == 200
    )
    assert lookup(member, [new_token(), new_token()]).status_code == 200
    assert lookup(member, [new_token()], purpose="fraud_investigation", consent=None).status_code == 200


def test_sections_equal_direct_queries_and_hold_no_other_member(member_a, member_b, key_v1):
    activity(member_a, late=2)
    activity(member_b, late=0)
    lookup(member_b, [new_token()], purpose="post_loan_monitoring", consent=None)
    # Outside the period: a batch from last month does not count.
    old = Batch.objects.filter(member=member_a.institution).order_by("id").first()
    Batch.objects.filter(pk=old.pk).update(created_at=old.created_at - dt.timedelta(days=40))
    QuotaRefusal.objects.create(
        credential_id=member_a.credential.pk,
        member_id=member_a.institution.pk,
        day=business_today(),
        window="minute",
        refused=3,
    )
    MemberFlag.objects.create(member=member_a.institution, kind="enumeration", day=business_today())
    period = today_period()
    start_at, end_at = period.start_at, period.end_at
    a = member_a.institution

    files = unzip(generate(member_a, period))
    summary = json.loads(files["summary.json"])["sections"]

    batches = Batch.objects.filter(member=a, created_at__gte=start_at, created_at__lt=end_at)
    totals = batches.aggregate(
        n=Count("id"), received=Sum("received"), accepted=Sum("accepted"), rejected=Sum("rejected")
    )
    record_ids = [str(pk) for pk in Record.objects.filter(member_id=a.pk).values_list("pk", flat=True)]
    audit = AuditEvent.objects.filter(object_type="sharing.record", object_id__in=record_ids, occurred_at__gte=start_at)
    record_event = apps.get_model("sharing", "RecordEvent")
    submissions = summary["submissions"]["summary"]
    assert submissions == {
        "batches": totals["n"],
        "records_received": totals["received"],
        "records_accepted": totals["accepted"],
        "records_rejected": totals["rejected"],
        "rejection_rate": round(totals["rejected"] / totals["received"], 6),
        "records_updated": record_event.objects.filter(member_id=a.pk, pgh_created_at__gte=start_at)
        .values("pgh_obj_id")
        .distinct()
        .count(),
        "records_resolved": audit.filter(action="record.resolved").count(),
        "records_retracted": audit.filter(action="record.retracted").count(),
    }
    assert totals["n"] == 1 and submissions["records_updated"] == 3  # changed, resolved, retracted
    codes: dict[str, int] = {}
    for batch in batches:
        for code in {(e["index"], e["code"]) for e in batch.errors}:
            codes[code[1]] = codes.get(code[1], 0) + 1
    assert {row["rejection_code"]: int(row["records_rejected"]) for row in csv_rows(files, "submissions.csv")} == codes

    delinquencies = Record.objects.filter(
        member_id=a.pk, kind="delinquency", created_at__gte=start_at, created_at__lt=end_at
    )
    late = sum(1 for r in delinquencies if (business_today() - r.event_date).days > 30)
    assert summary["timeliness"]["summary"] == {
        "delinquencies_reported": delinquencies.count(),
        "reported_late": late,
        "late_share": round(late / delinquencies.count(), 6),
    }
    assert late == 2

    looked = Lookup.objects.filter(member=a, created_at__gte=start_at, created_at__lt=end_at)
    sums = looked.aggregate(n=Count("id"), identifiers=Sum("identifiers"), hits=Sum("hits"))
    lookups = summary["lookups"]["summary"]
    assert lookups == {
        "lookups": sums["n"],
        "identifiers": sums["identifiers"],
        "hits": sums["hits"],
        "hit_ratio": round(sums["hits"] / sums["identifiers"], 6),
        "consent_required_lookups": looked.filter(purpose__in=["credit_application", "account_opening"]).count(),
        "lookups_without_consent": looked.filter(
            purpose__in=["credit_application", "account_opening"], consent_reference=""
        ).count(),
        "quota_refusals": 3,
        "enumeration_flags": 1,
        "consent_references_reused": 0,
    }
    rows = csv_rows(files, "lookups.csv")
    assert {row["purpose"] for row in rows} == {"credit_application", "fraud_investigation"}
    assert {row["credential"] for row in rows} == {member_a.credential.prefix}

    credentials = Credential.objects.filter(institution=a, revoked_at__isnull=True)
    assert summary["credentials"]["summary"] == {
        "active": credentials.count(),
        "unused_90_days": 0,
        "older_than_365_days": 0,
        "without_ip_allow_list": credentials.filter(allowed_ips=[]).count(),
    }
    volumes = csv_rows(files, "volumes.csv")
    assert len(volumes) == 12 and volumes[-1]["month"] == f"{business_today():%Y-%m}"
    assert int(volumes[-1]["records_accepted"]) == totals["accepted"]

    # Nothing of member B anywhere in A's files.
    everything = b"".join(files.values())
    for secret in (member_b.institution.name, member_b.institution.uscc, member_b.credential.prefix):
        assert secret.encode() not in everything


def test_zip_structure_workbook_and_signature(member_a, key_v1):
    activity(member_a)
    report = generate(member_a)
    files = unzip(report)
    assert set(files) == EXPECTED_FILES
    assert {f"{name}.csv" for name in CORE_SECTIONS} <= set(files)
    manifest = json.loads(files["manifest.json"])
    assert manifest["member"] == {"id": member_a.institution.pk, "name": "Member A", "uscc": member_a.institution.uscc}
    assert manifest["period"]["start"] == f"{business_today()}"
    assert {entry["name"] for entry in manifest["files"]} == EXPECTED_FILES - {"manifest.json", "manifest.sig"}
    snapshot = manifest["snapshot"]
    assert snapshot["audit_chain_head"]["seq"] and snapshot["max_ids"]["record"]
    assert manifest["signing_key"]["fingerprint"] == signing_key_fingerprint()
    assert report_verify(bytes(report.content), public_key_pem()).ok

    workbook = openpyxl.load_workbook(io.BytesIO(files["report.xlsx"]))
    assert len(workbook.sheetnames) == 1 + len(SECTIONS)  # the summary, then one sheet per section
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2"
    volumes = workbook.worksheets[1 + [section.name for section in SECTIONS].index("volumes")]
    assert len(volumes._charts) == 1


def tamper(report: Report, tmp_path, change) -> str:
    files = unzip(report)
    change(files)
    path = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return str(path)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda f: f.__setitem__("lookups.csv", f["lookups.csv"] + b"x"), "lookups.csv: SHA-256 differs"),
        (
            lambda f: f.__setitem__("manifest.json", f["manifest.json"].replace(b'"Member A"', b'"Member Z"')),
            "manifest.sig",
        ),
        (lambda f: f.__setitem__("extra.csv", b"1"), "extra.csv: present in the archive but not listed"),
        (lambda f: f.pop("peers.csv"), "peers.csv: listed in the manifest but missing"),
    ],
)
def test_both_verifiers_name_what_was_tampered(member_a, key_v1, tmp_path, capsys, change, named):
    report = generate(member_a)
    good = tmp_path / "good.zip"
    good.write_bytes(bytes(report.content))
    key = tmp_path / "public.pem"
    key.write_bytes(public_key_pem())
    assert cli.main(["verify-report", str(good), "--public-key", str(key)]) == 0
    assert f"OK: {LISTED} files" in capsys.readouterr().out
    call_command("report_verify", str(good), stdout=StringIO())

    bad = tamper(report, tmp_path, change)
    assert cli.main(["verify-report", bad, "--public-key", str(key)]) == 1
    assert named in capsys.readouterr().err
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("report_verify", bad, stdout=StringIO(), stderr=err)
    assert named in err.getvalue()


def test_cli_fetches_the_public_key_from_the_platform(member_a, key_v1, tmp_path, monkeypatch, api_client, capsys):
    import httpx

    report = tmp_path / "report.zip"
    report.write_bytes(bytes(generate(member_a).content))
    fetched = []

    def get(url, **kwargs):
        fetched.append(url)
        answer = api_client.get(url.removeprefix("https://riskshare.example"))
        return httpx.Response(answer.status_code, content=answer.content)

    monkeypatch.setattr(httpx, "get", get)
    assert cli.main(["verify-report", str(report), "--base-url", "https://riskshare.example/"]) == 0
    assert fetched == ["https://riskshare.example/api/v1/reports/public-key"]
    assert (
        cli.main(["verify-report", str(report), "--base-url", "https://riskshare.example", "--fingerprint", "00"]) == 1
    )
    assert "not the expected 00" in capsys.readouterr().err


def test_hash_mismatch_names_expected_and_actual(member_a, key_v1, tmp_path):
    report = generate(member_a)
    bad = tamper(report, tmp_path, lambda f: f.__setitem__("summary.json", b"{}"))
    result = report_verify(open(bad, "rb").read(), public_key_pem())  # noqa: SIM115
    [mismatch] = result.mismatches
    listed = {e["name"]: e["sha256"] for e in json.loads(unzip(report)["manifest.json"])["files"]}
    assert (mismatch.file, mismatch.expected) == ("summary.json", listed["summary.json"])
    assert mismatch.actual == hashlib.sha256(b"{}").hexdigest()


def test_download_is_scoped_audited_and_needs_the_scope(member_a, member_b, key_v1):
    report = generate(member_a)
    other = generate(member_b)
    response = member_a.client().get(f"/api/v1/reports/{report.pk}/download")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response.content == bytes(report.content)
    digest = base64.b64encode(bytes.fromhex(report.sha256)).decode()
    assert response["Repr-Digest"] == f"sha-256=:{digest}:"
    event = AuditEvent.objects.filter(action="report.downloaded").latest("seq")
    assert event.object_id == str(report.pk) and event.payload["sha256"] == report.sha256
    assert event.actor_type == "credential" and event.payload["channel"] == "api"

    foreign = member_a.client().get(f"/api/v1/reports/{other.pk}/download")
    missing = member_a.client().get("/api/v1/reports/999999/download")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()

    listed = member_a.client().get("/api/v1/reports").json()
    assert [item["id"] for item in listed["results"]] == [report.pk]
    assert listed["results"][0]["sha256"] == report.sha256

    no_scope = issue(member_a.institution, scopes=["lookups"])
    assert no_scope.client().get(f"/api/v1/reports/{report.pk}/download").status_code == 403
    assert no_scope.client().get("/api/v1/reports").status_code == 403


def test_public_key_is_public(api_client, db):
    body = api_client.get("/api/v1/reports/public-key").json()
    assert body["public_key_pem"].encode() == public_key_pem()
    assert body["fingerprint"] == signing_key_fingerprint() and body["algorithm"] == "Ed25519"


def test_regeneration_replaces_the_file_and_keeps_the_old_hash(member_a, key_v1):
    first = generate(member_a)
    activity(member_a)
    second = generate(member_a)
    assert first.pk == second.pk and first.sha256 != second.sha256
    assert Report.objects.filter(member=member_a.institution).count() == 1
    events = AuditEvent.objects.filter(object_type="sharing.report", object_id=str(first.pk)).order_by("seq", "id")
    assert [e.action for e in events] == ["report.generated", "report.regenerated"]
    assert events[1].payload["previous_sha256"] == first.sha256
    assert events[1].payload["sha256"] == second.sha256 == Report.objects.get().sha256


def test_peer_percentile_needs_five_members_with_data(member_a, key_v1):
    others = [issue(InstitutionFactory()) for _ in range(3)]
    for index, member in enumerate([member_a, *others]):
        submit(member, [overdue() for _ in range(4)] + [overdue(overdue_amount="1.234")] * (index % 2))
    peers = {row["measure"]: row for row in csv_rows(unzip(generate(member_a)), "peers.csv")}
    assert peers["rejection_rate"]["your_value"] == "0.0" and peers["rejection_rate"]["percentile"] == ""

    fifth = issue(InstitutionFactory())
    submit(fifth, [overdue(), overdue(overdue_amount="1.234")])
    files = unzip(generate(member_a))
    peers = {row["measure"]: row for row in csv_rows(files, "peers.csv")}
    # Rates 0 (A), 0.2, 0, 0.2, 0.5: A shares the lowest value with one other, mid-rank 1 of 5.
    assert peers["rejection_rate"]["percentile"] == "20.0"
    # No lookups with a consent purpose anywhere: no consent-compliance data at all.
    assert peers["consent_compliance"]["your_value"] == "" and peers["consent_compliance"]["percentile"] == ""
    assert json.loads(files["summary.json"])["sections"]["peers"]["summary"]["rejection_rate_percentile"] == 20.0
    # Never another member's name or count.
    assert fifth.institution.name.encode() not in b"".join(files.values())


def test_quota_refusals_are_counted_outside_the_refused_work(member_a, key_v1):
    LookupQuota.objects.create(
        member=member_a.institution, requests_per_minute=1, identifiers_per_day=100, updated_by="t"
    )
    statuses = [lookup(member_a, [new_token()]).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    refusal = QuotaRefusal.objects.get()
    assert (refusal.credential_id, refusal.member_id, refusal.window, refusal.refused) == (
        member_a.credential.pk,
        member_a.institution.pk,
        "minute",
        2,
    )
    assert refusal.day == business_today()
    # The refused requests' identifiers were rolled back; only the admitted one counts a day.
    assert QuotaUsage.objects.get(window="day").used == 1
    assert (
        json.loads(unzip(generate(member_a))["summary.json"])["sections"]["lookups"]["summary"]["quota_refusals"] == 2
    )


def test_monthly_job_queues_one_report_per_active_member_once(
    member_a, member_b, key_v1, django_capture_on_commit_callbacks
):
    from sharing.reports.tasks import reports_monthly

    InstitutionFactory(status="suspended")
    with django_capture_on_commit_callbacks(execute=True):
        assert reports_monthly.delay().get() == 2
    reports = Report.objects.order_by("member_id")
    assert [r.member_id for r in reports] == sorted([member_a.institution.pk, member_b.institution.pk])
    assert {r.status for r in reports} == {"ready"}
    first = business_today().replace(day=1)
    assert {(r.period_start, r.period_end) for r in reports} == {((first - dt.timedelta(days=1)).replace(day=1), first)}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert reports_monthly.delay().get() == 0
    assert Report.objects.filter(status="ready").count() == 2 and len(callbacks) <= 1
    assert AuditEvent.objects.filter(action="report.generated").count() == 2


def test_period_must_not_end_in_the_future(member_a):
    from core.errors import DomainError

    today = business_today()
    with pytest.raises(DomainError) as excinfo:
        report_generate(
            member=member_a.institution, period_start=today, period_end=today + dt.timedelta(days=2), actor=SYSTEM
        )
    assert excinfo.value.code == "future_period"


def test_admin_generates_and_downloads_with_an_audit_event(member_a, member_b, operator, admin_client_for, key_v1):
    client = admin_client_for(operator)
    period = today_period()
    nonce = form_nonce(client.get(reverse("admin:sharing_report_generate")))
    response = client.post(
        reverse("admin:sharing_report_generate"),
        {
            "members": [member_a.institution.pk],
            "period_start": period.start,
            "last_day": period.end - dt.timedelta(days=1),
            "form_nonce": nonce,
        },
    )
    assert response.status_code == 302, response.content
    report = Report.objects.get()
    assert report.member_id == member_a.institution.pk and report.generated_by == operator.username
    assert client.get(reverse("admin:sharing_report_changelist")).status_code == 200
    download = client.get(reverse("admin:sharing_report_download", args=[report.pk]))
    assert download.status_code == 200 and download.content == bytes(Report.objects.get().content)
    event = AuditEvent.objects.filter(action="report.downloaded").get()
    assert event.actor_type == "operator" and event.payload["channel"] == "admin"


@pytest.mark.django_db(transaction=True)
def test_every_section_reads_one_repeatable_read_snapshot(member_a, key_v1):
    report = reports_generate(
        members=[member_a.institution, member_a.institution],
        period_start=today_period().start,
        period_end=today_period().end,
        actor=SYSTEM,
    )[0]
    snapshot = json.loads(unzip(report)["manifest.json"])["snapshot"]
    assert snapshot["isolation"] == "repeatable read"
    assert snapshot["postgresql_snapshot"].count(":") == 2


def test_same_data_and_time_give_the_same_zip(member_a, key_v1):
    from django.utils import timezone

    from sharing.reports.files import ReportMeta, report_zip_build
    from sharing.reports.services import reports_compute

    activity(member_a)
    period = today_period()
    snapshot, data = reports_compute(member_ids=[member_a.institution.pk], period=period)
    meta = ReportMeta(
        member_a.institution.pk, "Member A", member_a.institution.uscc, period, False, timezone.now(), "t", snapshot
    )
    first, _summary = report_zip_build(meta, data[member_a.institution.pk])
    second, _summary = report_zip_build(meta, data[member_a.institution.pk])
    assert first == second


def test_the_verifier_runs_without_django(member_a, key_v1, tmp_path):
    import subprocess
    import sys

    from django.conf import settings

    report = tmp_path / "report.zip"
    report.write_bytes(bytes(generate(member_a).content))
    key = tmp_path / "public.pem"
    key.write_bytes(public_key_pem())
    # The verification itself imports nothing of Django; the CLI as a whole needs no settings.
    code = (
        "import sys; import sharing.reports.verify; "
        "assert not any(name == 'django' or name.startswith('django.') for name in sys.modules), 'django imported'; "
        "from sharing.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(settings.BASE_DIR)}
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-c", code, "verify-report", str(report), "--public-key", str(key)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK: {LISTED} files")


def test_report_list_costs_the_same_queries_for_one_or_many(member_a, key_v1):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    today = business_today()
    client = member_a.client()

    def list_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            body = client.get("/api/v1/reports").json()
        return len(body["results"]), len(queries)

    generate(member_a)
    list_queries()  # the first request of a key also records its last use
    one = list_queries()
    for days in (2, 3, 4):
        start = today - dt.timedelta(days=days)
        report_generate(member=member_a.institution, period_start=start, period_end=today, actor=SYSTEM)
    many = list_queries()
    assert (one[0], many[0]) == (1, 4)
    assert one[1] == many[1]


def test_development_creates_a_signing_key_once(settings, tmp_path):
    from sharing.common import signing

    path = str(tmp_path / "var" / "report-signing-key.pem")
    settings.RISKSHARE_REPORT_SIGNING_KEY_GENERATE = True
    settings.RISKSHARE_REPORT_SIGNING_KEY = settings.RISKSHARE_REPORT_SIGNING_KEY_DEV_PATH = path
    fingerprint = signing.signing_key_fingerprint()
    assert (tmp_path / "var" / "report-signing-key.pem").stat().st_mode & 0o777 == 0o600
    signing._key_from.cache_clear()
    assert signing.signing_key_fingerprint() == fingerprint


def test_a_redelivered_task_does_nothing_and_the_sweep_requeues_lost_ones(member_a, key_v1):
    from django.utils import timezone

    from sharing.reports.services import REPORT_STALE_AFTER
    from sharing.reports.tasks import report_generate as report_generate_task
    from sharing.reports.tasks import reports_sweep

    start, end = business_today() - dt.timedelta(days=3), business_today()
    lost = Report.objects.create(member=member_a.institution, period_start=start, period_end=end)
    assert reports_sweep.delay().get() == []  # not stale yet
    Report.objects.filter(pk=lost.pk).update(requested_at=timezone.now() - REPORT_STALE_AFTER - dt.timedelta(seconds=1))
    assert reports_sweep.delay().get() == [lost.pk]
    lost.refresh_from_db()
    assert lost.status == "ready" and lost.sha256
    assert report_generate_task.delay(lost.pk).get() is None
    assert AuditEvent.objects.filter(action__startswith="report.").count() == 1


def test_cli_names_a_missing_report_or_key_file(tmp_path, capsys):
    key = tmp_path / "key.pem"
    key.write_bytes(public_key_pem())
    assert cli.main(["verify-report", str(tmp_path / "missing.zip"), "--public-key", str(key)]) == 1
    assert f"input file not found: {tmp_path / 'missing.zip'}" in capsys.readouterr().err
