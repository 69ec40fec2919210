"""When a partner entry needs review: its agreement or a licence lapsed, or its due diligence is a year old."""

from __future__ import annotations

import datetime as dt

from sharing.registers.models import Partner

DUE_DILIGENCE_YEARS = 1
LAPSED = {"licence": "licence_lapsed", "agreement": "agreement_lapsed"}


def years_later(date: dt.date, years: int) -> dt.date:
    """The same day ``years`` later (28 February for a 29 February that year lacks)."""
    try:
        return date.replace(year=date.year + years)
    except ValueError:
        return date.replace(year=date.year + years, day=28)


def review_dates(partner: Partner) -> list[tuple[str, dt.date]]:
    """The dates by which the entry needs review, with what each is (a licence's, the agreement's…)."""
    dates = [
        ("agreement", partner.agreement_expires_on),
        ("due_diligence", years_later(partner.due_diligence_on, DUE_DILIGENCE_YEARS)),
    ]
    dates += [(f"licence:{licence.type}:{licence.number}", licence.valid_to) for licence in partner.licences.all()]
    return dates


def needs_review(partner: Partner, *, today: dt.date) -> bool:
    """An active entry one of whose dates has passed (an ended partnership needs none)."""
    return partner.exited_on is None and review_state(partner, today=today)["needed"]


def review_state(partner: Partner, *, today: dt.date) -> dict:
    """``needed`` once a date passed; ``reasons`` names them; ``next_date`` is the earliest date ahead."""
    reasons, ahead = [], []
    for what, date in review_dates(partner):
        kind = what.split(":")[0]
        if date < today:
            reasons.append(LAPSED.get(kind, "due_diligence_stale"))
        else:
            ahead.append(date)
    return {"needed": bool(reasons), "reasons": sorted(set(reasons)), "next_date": min(ahead) if ahead else None}
