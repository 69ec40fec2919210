"""The token-evaluation section of a self-inspection report: how many v2 tokens the member had the platform
evaluate in the period, per identifier type, and how many it was refused over its daily limit.

A member checks it against its own business (applications, migrations re-keyed): evaluations far beyond its
lookups and reports are what the daily limit and the operators' enumeration flag watch for. The counts are kept
by UTC day (``TokenEvaluationCount``): the period's days are taken as those UTC days, which differ from the
Asia/Shanghai calendar by the first eight hours of each day.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from sharing.reports.base import Column, ReportContext, Section, SectionData, empty_sections


def evaluations(ctx: ReportContext) -> dict[int, SectionData]:
    """Per member and identifier type: elements evaluated, elements refused, days with a refusal."""
    p = ctx.period
    out = empty_sections(ctx, {"evaluated": 0, "refused": 0, "days_with_refusals": 0})
    for member_id, id_type, evaluated, refused, refusal_days in ctx.rows(
        "SELECT member_id, id_type, sum(evaluated), sum(refused), count(*) FILTER (WHERE refused > 0) "
        "FROM sharing_tokenevaluationcount WHERE member_id = ANY(%s) AND day >= %s AND day < %s "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        [ctx.member_ids, p.start, p.end],
    ):
        out[member_id].rows.append([id_type, int(evaluated), int(refused), refusal_days])
        summary = out[member_id].summary
        summary["evaluated"] += int(evaluated)
        summary["refused"] += int(refused)
        summary["days_with_refusals"] += refusal_days
    return out


EVALUATIONS_SECTION = Section(
    "evaluations",
    _("Token evaluations (v2)"),
    [
        Column("identifier_type", _("Identifier type")),
        Column("evaluated", _("Evaluated"), "int"),
        Column("refused", _("Refused over the daily limit"), "int"),
        Column("days_with_refusals", _("Days with a refusal"), "int"),
    ],
    evaluations,
    {
        "evaluated": _("Identifiers evaluated"),
        "refused": _("Identifiers refused over the daily limit"),
        "days_with_refusals": _("Identifier-type days with a refusal"),
    },
)
