"""The person's report as a printable PDF, in Chinese, with fpdf2.

fpdf2: maintained, pure Python (no system libraries beyond a font), embeds a subset of the TrueType/OpenType font
it is given, collections (.ttc) included, so the PDF shows the same on any reader or printer. Chinese needs a font
with its glyphs: without one the PDF is refused with a message that says what to install, never printed as boxes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from core.errors import DomainError

# (path, index in the collection): Simplified Chinese first.
FONT_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # Debian/Ubuntu fonts-noto-cjk: SC is 3rd
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),  # Fedora, Arch
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),  # Debian fonts-wqy-microhei
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),  # Debian fonts-arphic-uming
)
_PROBE = "个人信息报告"


class ReportFontMissing(DomainError):
    pass


def report_font() -> tuple[str, int]:
    """The font file (and collection index) for Chinese, or ReportFontMissing saying what to install."""
    configured = settings.RISKSHARE_REPORT_FONT
    candidates = FONT_CANDIDATES
    if configured:
        path, _hash, index = configured.partition("#")
        candidates = ((path, int(index or 0)),)
    for path, index in candidates:
        if Path(path).is_file():
            return path, index
    raise ReportFontMissing(
        _(
            "No font with Chinese characters was found for the report's PDF. Install one (Debian: apt-get install "
            "fonts-noto-cjk) or set RISKSHARE_REPORT_FONT to a font file (path#index for a collection)."
        ),
        code="report_font_missing",
    )


class _ReportPdf(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("cjk", size=8)
        self.cell(0, 6, f"{self.footer_text}  {self.page_no()}/{{nb}}", align="C")


def _section(pdf: _ReportPdf, title: str, headings: list[str], rows: list[list[Any]], widths: list[int]) -> None:
    pdf.ln(3)
    pdf.set_font("cjk", size=12)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    if not rows:
        pdf.cell(0, 6, _("None."), new_x="LMARGIN", new_y="NEXT")
        return
    with pdf.table(col_widths=widths, headings_style=FontFace(fill_color=(230, 230, 230)), line_height=5) as table:
        table.row(headings)
        for row in rows:
            table.row(["" if value is None else str(value) for value in row])


def _day(value: str | None) -> str:
    return (value or "")[:10]


def _time(value: str | None) -> str:
    return (value or "")[:16].replace("T", " ")


def subject_report_pdf(report: dict[str, Any]) -> bytes:
    """A4 pages: the report's sections as tables, then how to object; the number on every page."""
    path, index = report_font()
    with translation.override("zh-hans"):
        pdf = _ReportPdf(format="A4")
        pdf.add_font("cjk", fname=path, collection_font_number=index)
        pdf.set_auto_page_break(auto=True, margin=16)
        pdf.footer_text = _("Report %(number)s") % {"number": report["number"]}
        pdf.set_title(report["title"])
        pdf.add_page()
        pdf.set_font("cjk", size=16)
        pdf.cell(0, 10, report["title"], align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=9)
        for line in (
            _("Report number: %(number)s") % {"number": report["number"]},
            _("Issued at: %(time)s by %(issuer)s") % {"time": _time(report["issued_at"]), "issuer": report["issuer"]},
        ):
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        _section(
            pdf,
            _("Identifiers searched"),
            [_("Type"), _("Identifier (masked)")],
            [[i["type_label"], i["masked"]] for i in report["identifiers"]],
            [40, 80],
        )
        _section(
            pdf,
            _("Records reported about you"),
            [
                _("No."),
                _("Institution"),
                _("Kind"),
                _("Category"),
                _("Status"),
                _("Event date"),
                _("Resolved"),
                _("Overdue days"),
                _("Overdue amount (CNY)"),
                _("Your statement"),
            ],
            [
                [
                    r["number"],
                    r["institution"],
                    r["kind_label"],
                    r["category_label"],
                    r["status_label"],
                    _day(r["event_date"]),
                    _day(r["resolved_date"]),
                    r["overdue_days"],
                    r["overdue_amount"],
                    r["statement"],
                ]
                for r in report["records"]
            ],
            [10, 30, 14, 18, 14, 18, 18, 12, 18, 28],
        )
        _section(
            pdf,
            _("Open loans"),
            [
                _("No."),
                _("Lender"),
                _("Product"),
                _("Credit limit (CNY)"),
                _("Balance (CNY)"),
                _("Opened"),
                _("Last reported"),
            ],
            [
                [
                    r["number"],
                    r["institution"],
                    r.get("product_label", ""),
                    r["credit_limit"],
                    r["outstanding_balance"],
                    _day(r["opened"]),
                    _day(r["last_reported"]),
                ]
                for r in report["loans"]
            ],
            [10, 40, 24, 28, 28, 25, 25],
        )
        _section(
            pdf,
            _("Relief agreed with you (extension, deferral, restructuring)"),
            [_("No."), _("Institution"), _("Relief"), _("Start"), _("End"), _("New maturity date")],
            [
                [
                    r["number"],
                    r["institution"],
                    r["relief_label"],
                    _day(r["relief_start"]),
                    _day(r["relief_end"]) or _("running"),
                    _day(r["new_maturity_date"]),
                ]
                for r in report["records"] + report["loans"]
                if r.get("relief")
            ],
            [14, 50, 30, 28, 28, 30],
        )
        _section(
            pdf,
            _("Inquiries about you in the last %(years)s years") % {"years": report["inquiry_years"]},
            [_("Time"), _("Institution"), _("Purpose")],
            [[_time(r["time"]), r["institution"] or report["issuer"], r["purpose_label"]] for r in report["inquiries"]],
            [35, 70, 75],
        )
        _section(
            pdf,
            _("Institutions watching your loans now"),
            [_("Institution"), _("Since"), _("Until")],
            [[r["institution"], _day(r["since"]), _day(r["until"])] for r in report["watchers"]],
            [90, 45, 45],
        )
        _section(
            pdf,
            _("Disputes and their outcomes"),
            [_("Dispute no."), _("Received"), _("Due"), _("Outcome"), _("Settled"), _("Records")],
            [
                [
                    r["number"],
                    _day(r["received_at"]),
                    _day(r["due_date"]),
                    r["status_label"],
                    _day(r["settled_at"]),
                    "、".join(str(n) for n in r["records"]),
                ]
                for r in report["disputes"]
            ],
            [24, 28, 28, 36, 28, 36],
        )
        _section(
            pdf,
            _("Protective registrations (identity at risk)"),
            [_("No."), _("Reason"), _("Since"), _("Expires"), _("Withdrawn"), _("In force")],
            [
                [
                    r["number"],
                    r["reason_label"],
                    _day(r["since"]),
                    _day(r["expires_at"]),
                    _day(r["withdrawn_at"]),
                    _("yes") if r["in_force"] else _("no"),
                ]
                for r in report["protective_registrations"]
            ],
            [14, 60, 26, 26, 26, 28],
        )
        pdf.ln(3)
        pdf.set_font("cjk", size=12)
        pdf.cell(0, 8, _("How to object"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=9)
        pdf.multi_cell(0, 5, report["objection"])
        return bytes(pdf.output())
