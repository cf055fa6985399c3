"""A series meeting in its members' calendars: the same entry as the series invitation's, not a second one.

A member who was sent the series invitation holds the whole series (UID, RRULE) in their calendar. Every
later calendar object about one meeting (its invitation, a registration's confirmation or cancellation, a
change) goes to them as that meeting's instance of the series: the series' UID and the meeting's
RECURRENCE-ID (RFC 5546 3.2.2, 3.2.5), so the calendar updates that one date instead of adding a second
entry beside it. Everyone else (registered through the public link, invited to this meeting only) gets the
meeting's own UID, as for any event.

An instance's SEQUENCE is the series' sequence plus the meeting's own: both only ever rise, so each later
version of the instance outranks every earlier one, whichever of the two changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit.core.files import event_dir
from eventkit.core.settings import Settings
from eventkit.db.store import OutboxMessage
from eventkit.model.spec import EventSpec

STATE_FILE = "series.json"
INVITATION = "series-invitation"


@dataclass(frozen=True)
class SeriesRef:
    slug: str
    uid: str
    sequence: int  # the series' own
    recurrence_id: datetime  # the meeting's date by the rule, in the series' zone

    def instance_sequence(self, meeting_sequence: int) -> int:
        return self.sequence + meeting_sequence


def state_path(settings: Settings, slug: str) -> Path:
    return event_dir(settings, slug) / STATE_FILE


def series_ref(settings: Settings, spec: EventSpec) -> SeriesRef | None:
    """For a meeting of a stored series: where it sits in the series' calendar; else None."""
    ref = spec.extra.get("series")
    if not isinstance(ref, dict) or not ref.get("slug") or not ref.get("recurrence_id"):
        return None
    slug = str(ref["slug"])
    try:
        data = json.loads(state_path(settings, slug).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None  # the series' state was removed: the meeting stands alone
    recurrence_id = datetime.fromisoformat(str(ref["recurrence_id"])).astimezone(ZoneInfo(spec.timezone))
    return SeriesRef(slug, str(data["uid"]), int(data["sequence"]), recurrence_id)


def invitation_key(slug: str, person_id: int) -> str:
    return f"series:{slug}:{person_id}:{INVITATION}"


def holders(session: Session, slug: str, person_ids: Iterable[int]) -> set[int]:
    """Those of `person_ids` who were sent the series invitation: their calendars hold the series."""
    ids = sorted(set(person_ids))
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        keys = {invitation_key(slug, pid): pid for pid in ids[start : start + 500]}
        found |= {
            keys[k]
            for k in session.scalars(
                select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(list(keys)))
            )
        }
    return found
