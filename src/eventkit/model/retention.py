"""When an event's personal data and its funder record are due for deletion, from its spec's retention keys."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime

from eventkit.model.spec import EventSpec

DEFAULT_MONTHS = 6
DEFAULT_FUNDER_YEARS = 10


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day when it is shorter)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Policy:
    """When an event's personal data and its funder record are due for deletion."""

    personal_until: datetime
    funder_until: datetime
    funded: bool

    def keeps_attendance(self, now: datetime) -> bool:
        """Whether a funder record (name and organisation of attendees) is still to be kept at `now`."""
        return self.funded and now < self.funder_until


def policy(spec: EventSpec) -> Policy:
    months = spec.extra.get("retention_months")
    years = spec.extra.get("funder_retention_years")
    months = months if isinstance(months, int) and not isinstance(months, bool) else DEFAULT_MONTHS
    years = years if isinstance(years, int) and not isinstance(years, bool) else DEFAULT_FUNDER_YEARS
    end = spec.end.astimezone(UTC)
    return Policy(add_months(end, months), add_months(end, years * 12), bool(spec.funding))
