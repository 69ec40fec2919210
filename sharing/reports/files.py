"""The report's files: summary.json, one CSV per section, report.xlsx, the manifest and its signature.

Deterministic where it is cheap: the same data, generation time and key give the same ZIP byte for
byte (sorted entries, fixed ZIP timestamps and modes, the workbook's creation time set to the
generation time, JSON with sorted keys).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import xlsxwriter
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from sharing.common.crypto import sha256_hex
from sharing.common.signing import sign, signing_key_fingerprint
from sharing.reports.base import Period, SectionData
from sharing.reports.sections import SECTIONS
from sharing.reports.verify import FORMAT, LOG_FILE, MANIFEST, SIGNATURE

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ReportMeta:
    member_id: int
    member_name: str
    member_uscc: str
    period: Period
    complete: bool
    generated_at: dt.datetime
    generated_by: str
    snapshot: dict[str, Any]
    # The verifiable log's checkpoint and the member's leaves of the period with their proofs (log.json).
    log: dict[str, Any] | None = None


def _plain(value: Any) -> Any:
    """A value as JSON and CSV show it: times in UTC ISO 8601, dates ISO, decimals as strings."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _json_bytes(document: Any) -> bytes:
    return (json.dumps(document, default=_plain, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def _csv_bytes(columns: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        cells = []
        for value in row:
            value = _plain(value)
            cells.append("" if value is None else ("true" if value is True else "false" if value is False else value))
        writer.writerow(cells)
    # With a byte-order mark, spreadsheet programs read the Chinese text as UTF-8.
    return buffer.getvalue().encode("utf-8-sig")


def _member_json(meta: ReportMeta) -> dict[str, Any]:
    return {"id": meta.member_id, "name": meta.member_name, "uscc": meta.member_uscc}


def _period_json(meta: ReportMeta) -> dict[str, Any]:
    return {
        "start": meta.period.start,
        "end": meta.period.end,
        "end_exclusive": True,
        "time_zone": settings.TIME_ZONE,
        "complete": meta.complete,
    }


def summary_document(meta: ReportMeta, data: dict[str, SectionData]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "member": _member_json(meta),
        "period": _period_json(meta),
        "generated_at": meta.generated_at,
        "sections": {
            section.name: {"title": str(section.title), "summary": data[section.name].summary} for section in SECTIONS
        },
    }


def _workbook_bytes(meta: ReportMeta, data: dict[str, SectionData]) -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "remove_timezone": True})
    # Fixes the document's creation time, which also makes XlsxWriter's own ZIP reproducible.
    workbook.set_properties(
        {
            "title": _("Self-inspection report"),
            "company": meta.member_name,
            "created": meta.generated_at.astimezone(dt.UTC).replace(tzinfo=None),
        }
    )
    bold = workbook.add_format({"bold": True, "bg_color": "#DDE4EE", "border": 1})
    formats = {
        "ratio": workbook.add_format({"num_format": "0.00%"}),
        "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
        "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
    }
    local = ZoneInfo(settings.TIME_ZONE)

    overview = workbook.add_worksheet(_("Summary"))
    overview.write_row(0, 0, [_("Section"), _("Measure"), _("Value"), _("Key")], bold)
    overview.freeze_panes(1, 0)
    info = [
        (_("Member"), f"{meta.member_name} ({meta.member_uscc})"),
        (_("Period"), f"{meta.period.start:%Y-%m-%d} – {meta.period.end - dt.timedelta(days=1):%Y-%m-%d}"),
        (_("Generated at"), meta.generated_at.astimezone(local).strftime("%Y-%m-%d %H:%M:%S %Z")),
    ]
    row = 1
    for label, value in info:
        overview.write_row(row, 0, ["", label, value])
        row += 1
    for section in SECTIONS:
        for key, value in data[section.name].summary.items():
            label = section.summary_labels.get(key, key)
            overview.write(row, 0, str(section.title))
            overview.write(row, 1, str(label))
            if isinstance(value, float) and key.endswith(("_rate", "_share", "_ratio", "_compliance")):
                overview.write_number(row, 2, value, formats["ratio"])
            elif value is None:
                overview.write_string(row, 2, "—")
            else:
                overview.write(row, 2, value)
            overview.write(row, 3, key)
            row += 1
    overview.set_column(0, 1, 28)
    overview.set_column(2, 2, 24)
    overview.set_column(3, 3, 28)

    for section in SECTIONS:
        sheet = workbook.add_worksheet(str(section.title)[:31])
        sheet.write_row(0, 0, [str(column.label) for column in section.columns], bold)
        sheet.freeze_panes(1, 0)
        sheet.set_column(0, len(section.columns) - 1, 20)
        rows = data[section.name].rows
        for r, values in enumerate(rows, start=1):
            for c, (column, value) in enumerate(zip(section.columns, values, strict=True)):
                if value is None:
                    continue
                if column.kind == "datetime":
                    sheet.write_datetime(r, c, value.astimezone(local).replace(tzinfo=None), formats["datetime"])
                elif column.kind == "ratio":
                    sheet.write_number(r, c, value, formats["ratio"])
                elif column.kind == "bool":
                    sheet.write_boolean(r, c, value)
                else:
                    sheet.write(r, c, value)
        if section.name == "volumes" and rows:
            chart = workbook.add_chart({"type": "column"})
            sheet_name = sheet.get_name()
            for col in (1, 2):
                chart.add_series(
                    {
                        "name": [sheet_name, 0, col],
                        "categories": [sheet_name, 1, 0, len(rows), 0],
                        "values": [sheet_name, 1, col, len(rows), col],
                    }
                )
            chart.set_title({"name": _("Records accepted and lookups per month")})
            chart.set_x_axis({"name": _("Month")})
            chart.set_size({"width": 760, "height": 360})
            sheet.insert_chart(1, len(section.columns) + 1, chart)
    workbook.close()
    return buffer.getvalue()


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


def report_zip_build(meta: ReportMeta, data: dict[str, SectionData]) -> tuple[bytes, dict[str, Any]]:
    """The signed report ZIP and its summary document, in the platform's language whoever asked."""
    with translation.override(settings.LANGUAGE_CODE):
        return _report_zip_build(meta, data)


def _report_zip_build(meta: ReportMeta, data: dict[str, SectionData]) -> tuple[bytes, dict[str, Any]]:
    summary = summary_document(meta, data)
    files: dict[str, bytes] = {"summary.json": _json_bytes(summary)}
    for section in SECTIONS:
        files[f"{section.name}.csv"] = _csv_bytes([c.key for c in section.columns], data[section.name].rows)
    files["report.xlsx"] = _workbook_bytes(meta, data)
    if meta.log is not None:
        files[LOG_FILE] = _json_bytes(meta.log)
    manifest = {
        "format": FORMAT,
        "member": _member_json(meta),
        "period": _period_json(meta),
        "generated_at": meta.generated_at,
        "generated_by": meta.generated_by,
        "snapshot": meta.snapshot,
        "signing_key": {"algorithm": "Ed25519", "fingerprint": signing_key_fingerprint()},
        "files": [
            {"name": name, "sha256": sha256_hex(files[name]), "size": len(files[name])} for name in sorted(files)
        ],
    }
    manifest_bytes = _json_bytes(manifest)
    files[MANIFEST] = manifest_bytes
    files[SIGNATURE] = sign(manifest_bytes)
    return _zip_bytes(files), json.loads(_json_bytes(summary))
