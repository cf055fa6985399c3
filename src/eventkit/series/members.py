"""A series' members as personal data: found for an export, erased on request, purged after retention."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from eventkit.core.settings import Settings
from eventkit.model.retention import policy
from eventkit.model.series import Occurrence, Series, occurrences
from eventkit.series.stored import load_stored, locked, stored_slugs, write_stored


def memberships(settings: Settings, address: str) -> list[dict[str, Any]]:
    """The series whose member list holds this address, with what it says about them (for a data export)."""
    out = []
    for slug in stored_slugs(settings):
        for m in load_stored(settings, slug).series.members:
            if m.email == address:
                out.append({"series": slug, "name": m.name, "organisation": m.organisation, "language": m.language})
    return out


def forget_member(settings: Settings, address: str) -> list[str]:
    """Take the address off every series' member list (an erasure request); returns those series' slugs.

    The organiser's own member file is theirs to change: the series file's `members` CSV would bring the
    person back with the next `eventkit series update`, which the erasure report says."""
    changed = []
    for slug in stored_slugs(settings):
        with locked(settings, slug):
            stored = load_stored(settings, slug)
            kept = tuple(m for m in stored.series.members if m.email != address)
            if len(kept) != len(stored.series.members):
                stored.series = dataclasses.replace(stored.series, members=kept)
                write_stored(settings, stored)
                changed.append(slug)
    return changed


def last_meeting(series: Series) -> Occurrence | None:
    """The series' last meeting; None while the rule has no end (or every meeting is skipped)."""
    if series.until is None and "COUNT=" not in series.rrule.upper():
        return None
    return max(occurrences(series), key=lambda o: o.end, default=None)


def purge_members(settings: Settings, now: datetime | None = None, *, dry_run: bool = False) -> list[str]:
    """Empty the member list of every series whose last meeting ended longer ago than its retention
    (`retention_months` of the series file, as for each meeting); returns their slugs.

    The rule, its exceptions and the calendar's UID stay (the meetings' records refer to them); a series that
    has no end keeps its members, who are the standing invitee list of meetings still to come."""
    now = now or datetime.now(UTC)
    purged = []
    for slug in stored_slugs(settings):
        with locked(settings, slug):
            stored = load_stored(settings, slug)
            last = last_meeting(stored.series)
            if last is None or not stored.series.members:
                continue
            as_event = dataclasses.replace(stored.series.template, start=last.start, end=last.end)
            if now < policy(as_event).personal_until:
                continue
            purged.append(slug)
            if not dry_run:
                stored.series = dataclasses.replace(stored.series, members=())
                write_stored(settings, stored)
    return purged
