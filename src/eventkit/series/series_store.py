"""A stored series (var/events/<slug>/series.json): its changes, its meetings as events, its emails to members."""

from __future__ import annotations

import dataclasses
import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from eventkit.consent import consents
from eventkit.core.files import event_dir, events_dir, write_atomic
from eventkit.core.render import translate
from eventkit.core.settings import Settings
from eventkit.db.store import Event, OutboxMessage, Person
from eventkit.events.changes import NotCancellable, cancel_event
from eventkit.events.events import EventCancelled, event_view, format_for, save_event
from eventkit.events.series_ref import INVITATION, STATE_FILE, invitation_key, state_path
from eventkit.invitations.invitations import import_invitees
from eventkit.mail import outbox
from eventkit.mail.compose import Recipient, compose
from eventkit.model.retention import policy
from eventkit.model.series import Occurrence, Series, meeting_spec, occurrences, rhythm
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime
from eventkit.series.series_calendar import SeriesFacts, SeriesInvite

UPDATE = "series-update"
KINDS = (INVITATION, UPDATE)
UPCOMING = 12  # meetings listed in the series invitation
# what a calendar shows of the series: a change to any of these sends the whole calendar again
CALENDAR_FIELDS = ("title", "start", "end", "timezone", "venue", "online_url", "organiser")


class SeriesNotFound(LookupError):
    def __init__(self, slug: str):
        super().__init__(slug)
        self.slug = slug


@dataclass
class Stored:
    series: Series
    uid: str
    sequence: int
    planned: list[str] = field(default_factory=list)  # meetings whose lifecycle has been run

    def to_data(self) -> dict[str, Any]:
        return {"series": self.series.to_data(), "uid": self.uid, "sequence": self.sequence, "planned": self.planned}


@dataclass(frozen=True)
class SeriesChange:
    slug: str
    created: bool
    sequence: int
    skipped: tuple[date, ...] = ()  # rule dates newly skipped
    moved: tuple[date, ...] = ()  # rule dates newly moved, or moved again
    full: bool = False  # the rule, the usual time or place changed, or a meeting is back: all of it goes out again
    before: Series | None = field(default=None, compare=False, repr=False)  # the version it replaced

    @property
    def changed(self) -> bool:
        return self.full or bool(self.skipped or self.moved)


@contextmanager
def _locked(settings: Settings, slug: str) -> Iterator[None]:
    """One writer of a series' state at a time (a weekly plan-series run and an organiser's update)."""
    folder = event_dir(settings, slug)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".series.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def load_stored(settings: Settings, slug: str) -> Stored:
    path = state_path(settings, slug)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeriesNotFound(slug) from None
    return Stored(Series.from_data(data["series"]), data["uid"], int(data["sequence"]), list(data.get("planned") or []))


def _write(settings: Settings, stored: Stored) -> None:
    path = state_path(settings, stored.series.slug)
    write_atomic(path, json.dumps(stored.to_data(), ensure_ascii=False, indent=1))


def store_series(settings: Settings, series: Series) -> SeriesChange:
    """Store the series, or its new version; SEQUENCE rises when what calendars show of it changed."""
    with _locked(settings, series.slug):
        try:
            old = load_stored(settings, series.slug)
        except SeriesNotFound:
            uid = f"series-{series.slug}@{settings.mail_from.rsplit('@', 1)[-1]}"
            _write(settings, Stored(series, uid, 0))
            return SeriesChange(series.slug, True, 0)
        before, after = old.series, series
        was, now = before.template.to_data(), after.template.to_data()
        full = any(was.get(k) != now.get(k) for k in CALENDAR_FIELDS) or (before.rrule, before.until) != (
            after.rrule,
            after.until,
        )
        old_moved = {m.original: m for m in before.moved}
        new_moved = {m.original: m for m in after.moved}
        skipped = tuple(sorted(set(after.skip) - set(before.skip)))
        moved = tuple(sorted(d for d, m in new_moved.items() if old_moved.get(d) != m))
        restored = (set(before.skip) - set(after.skip)) | (set(old_moved) - set(new_moved))
        full = full or bool(restored) or bool(skipped and moved)
        changed = full or bool(skipped or moved)
        sequence = old.sequence + 1 if changed else old.sequence
        _write(settings, Stored(series, old.uid, sequence, old.planned))
        if full:
            return SeriesChange(series.slug, False, sequence, full=True, before=before)
        return SeriesChange(series.slug, False, sequence, skipped, moved, before=before)


def mark_planned(settings: Settings, slug: str, meetings: list[str]) -> None:
    with _locked(settings, slug):
        stored = load_stored(settings, slug)
        stored.planned = sorted(set(stored.planned) | set(meetings))
        _write(settings, stored)


# --- meetings as events ------------------------------------------------------------------------------


def _existing(rt: Runtime, slugs: list[str]) -> dict[str, Event]:
    if not slugs:
        return {}
    with rt.store.session() as session:
        events = session.scalars(select(Event).where(Event.slug.in_(slugs))).all()
        session.expunge_all()
        return {e.slug: e for e in events}


def create_meetings(rt: Runtime, slug: str, *, now: datetime | None = None, horizon: timedelta) -> list[str]:
    """Each meeting whose date comes within `horizon` becomes an event (members invited); returns the new ones.

    A meeting that exists already is left as it is: a second run creates nothing twice.
    """
    now = now or datetime.now(UTC)
    stored = load_stored(rt.settings, slug)
    due = occurrences(stored.series, after=now, before=now + horizon)
    existing = _existing(rt, [o.slug for o in due])
    created = []
    for occ in due:
        if occ.slug in existing:
            continue
        save_event(rt.store, rt.settings, meeting_spec(stored.series, occ))
        if stored.series.members:
            import_invitees(rt.store, occ.slug, list(stored.series.members))
        created.append(occ.slug)
    return created


def meetings_in_range(rt: Runtime, slug: str, *, now: datetime | None = None, horizon: timedelta) -> list[str]:
    """The meetings (as events) within the horizon whose lifecycle has not been run yet."""
    now = now or datetime.now(UTC)
    stored = load_stored(rt.settings, slug)
    due = [o.slug for o in occurrences(stored.series, after=now, before=now + horizon)]
    existing = _existing(rt, due)
    return [s for s in due if s in existing and s not in stored.planned]


def meeting_sequences(rt: Runtime, series: Series) -> dict[date, int]:
    """Per rule date, the SEQUENCE of the meeting as an event, for those that are events already."""
    every = occurrences(series, include_skipped=True)
    existing = _existing(rt, [o.slug for o in every])
    return {o.recurrence_id.date(): existing[o.slug].sequence for o in every if o.slug in existing}


@dataclass(frozen=True)
class MeetingChange:
    slug: str
    action: str  # "updated" (time or place changed), "cancelled", "cancelled-before" (cannot come back)
    previous: dict[str, Any] | None = None


def _merged(current: EventSpec, was: EventSpec | None, now: EventSpec) -> EventSpec:
    """The meeting as the new series makes it, keeping what the organiser changed in this meeting alone.

    A field (or a key of the format's own fields) that the series' change left as it was keeps the meeting's
    value, e.g. an agenda or a note edited for this one meeting; a field the change touched takes the
    series' new value. Without the earlier version of the series, the series' version is taken whole.
    """
    if was is None:
        return now
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(now):
        old, new = getattr(was, f.name), getattr(now, f.name)
        if f.name == "extra":
            extra = dict(current.extra)
            for key in set(old) | set(new):
                if old.get(key) != new.get(key):
                    if key in new:
                        extra[key] = new[key]
                    else:
                        extra.pop(key, None)
            changes["extra"] = extra
        elif old != new:
            changes[f.name] = new
    return dataclasses.replace(current, **changes)


def apply_to_meetings(
    rt: Runtime, slug: str, *, now: datetime | None = None, before: Series | None = None
) -> list[MeetingChange]:
    """Carry the stored series over to the meetings that exist and have not ended: moved ones move, skipped
    ones are cancelled. Their registrants are told by the event-changed flow (the caller runs it).

    With `before`, the version of the series the change replaced, only what the change touched reaches a
    meeting: what the organiser changed in one meeting alone (`eventkit event update`) stays."""
    now = now or datetime.now(UTC)
    stored = load_stored(rt.settings, slug)
    every = occurrences(stored.series, include_skipped=True)
    earlier = {o.recurrence_id.date(): o for o in occurrences(before, include_skipped=True)} if before else {}
    existing = _existing(rt, [o.slug for o in every])
    out = []
    for occ in every:
        event = existing.get(occ.slug)
        if event is None or event.ends_at <= now:
            continue
        if occ.skipped:
            if event.status == "cancelled":
                continue
            try:
                cancel_event(rt, occ.slug, None, now)
            except NotCancellable:
                continue
            out.append(MeetingChange(occ.slug, "cancelled"))
            continue
        wanted = meeting_spec(stored.series, occ)
        if before is not None:
            old = earlier.get(occ.recurrence_id.date())
            was = meeting_spec(before, old) if old is not None and not old.skipped else None
            wanted = _merged(EventSpec.from_data(event.spec), was, wanted)
        try:
            saved = save_event(rt.store, rt.settings, wanted)
        except EventCancelled:
            out.append(MeetingChange(occ.slug, "cancelled-before"))
            continue
        if saved.changed:
            out.append(MeetingChange(occ.slug, "updated", saved.previous))
    return out


# --- emails to the members ---------------------------------------------------------------------------


def _people(rt: Runtime, series: Series) -> list[Person]:
    """The members as people in the store (made if new); those who unsubscribed from invitations are left out."""
    emails = [m.email for m in series.members]
    with rt.store.session() as session:
        people = {p.email: p for p in session.scalars(select(Person).where(Person.email.in_(emails)))}
        for m in series.members:
            if m.email not in people:
                person = Person(
                    email=m.email,
                    name=m.name,
                    organisation=m.organisation,
                    language=m.language or series.template.language,
                )
                session.add(person)
                people[m.email] = person
        session.flush()
        gone = consents.unsubscribed_ids(session, [p.id for p in people.values()])
        chosen = [people[e] for e in emails if people[e].id not in gone]
        session.expunge_all()
        return chosen


def _key(slug: str, person_id: int, kind: str, sequence: int | None = None) -> str:
    return f"series:{slug}:{person_id}:{kind}" + (f":{sequence}" if sequence is not None else "")


def series_facts(rt: Runtime, stored: Stored, language: str) -> SeriesFacts:
    text = [
        translate(language, "Meets %(rhythm)s.", rhythm=rhythm(stored.series, language)),
        translate(language, "Before each meeting you will get an invitation with its own registration link."),
    ]
    return SeriesFacts(stored.uid, stored.sequence, "\n".join(text))


def _meeting(occ: Occurrence) -> SimpleNamespace:
    return SimpleNamespace(
        start=occ.start, end=occ.end, venue=occ.venue, moved=occ.moved, skipped=occ.skipped, original=occ.recurrence_id
    )


def _context(rt: Runtime, stored: Stored, recipient: Recipient, now: datetime) -> dict[str, Any]:
    series = stored.series
    fmt = format_for(rt.settings, series.template.format)
    language = recipient.language
    upcoming = occurrences(series, after=now, include_skipped=True)
    return {
        "event": event_view(series.template, fmt),
        "format": SimpleNamespace(
            name=fmt.name, title=fmt.title.get(language), description=fmt.description.get(language)
        ),
        "recipient": recipient,
        "series": SimpleNamespace(
            rhythm=rhythm(series, language),
            upcoming=[_meeting(o) for o in upcoming[:UPCOMING]],
            more=max(len(upcoming) - UPCOMING, 0),
            until=series.until,
            usual_start=series.template.start,
            usual_end=series.template.end,
        ),
        "links": SimpleNamespace(event=None),
    }


def _compose_all(
    rt: Runtime,
    stored: Stored,
    people: list[Person],
    kind: str,
    keys: dict[int, str],
    invite_for: Any,
    extra: dict[str, Any],
    now: datetime,
) -> int:
    series = stored.series
    with rt.store.session() as session:
        taken = set(session.scalars(select(OutboxMessage.idempotency_key).where(
            OutboxMessage.idempotency_key.in_(list(keys.values())))))  # fmt: skip
        rows = []
        shared: dict[str, dict[str, Any]] = {}
        invites: dict[str, SeriesInvite] = {}
        for person in people:
            if keys[person.id] in taken:
                continue
            language = person.language or series.template.language
            if language not in invites:
                invites[language] = invite_for(language)
            recipient = Recipient(person.name, person.email, person.organisation, language)
            context = {**_context(rt, stored, recipient, now), **extra}
            context["links"] = SimpleNamespace(
                event=None, unsubscribe=consents.unsubscribe_url(rt.settings, person.id, person.email)
            )
            rows.append(
                compose(
                    settings=rt.settings,
                    renderer=rt.renderer,
                    format_name=series.template.format,
                    template=kind,
                    recipient=recipient,
                    context=context,
                    organiser=(series.template.organiser.name, series.template.organiser.email),
                    invite=invites[language],
                    idempotency_key=keys[person.id],
                    event_id=None,
                    person_id=person.id,
                    now=now,
                    shared=shared.setdefault(language, {}),
                    extra_headers=consents.unsubscribe_headers(
                        rt.settings, person.id, person.email, series.template.organiser.email
                    ),
                )
            )
        return len(outbox.enqueue(session, rows))


def enqueue_invitations(rt: Runtime, slug: str, *, now: datetime | None = None) -> int:
    """The series invitation (the whole calendar) for each member who has not had it; returns how many."""
    now = now or datetime.now(UTC)
    stored = load_stored(rt.settings, slug)
    people = _people(rt, stored.series)
    keys = {p.id: invitation_key(slug, p.id) for p in people}

    sequences = meeting_sequences(rt, stored.series)

    def invite_for(language: str) -> SeriesInvite:
        return SeriesInvite(
            stored.series, series_facts(rt, stored, language), "REQUEST", dtstamp=now, meeting_sequences=sequences
        )

    return _compose_all(rt, stored, people, INVITATION, keys, invite_for, {"change": None}, now)


def invited_members(rt: Runtime, slug: str) -> list[Person]:
    """Members who were sent the series invitation: only their calendars hold the series to update."""
    prefix = f"series:{slug}:"
    with rt.store.session() as session:
        ids = [
            int(key[len(prefix) :].split(":", 1)[0])
            for key in session.scalars(
                select(OutboxMessage.idempotency_key).where(
                    OutboxMessage.idempotency_key.like(prefix + "%:" + INVITATION), OutboxMessage.kind == INVITATION
                )
            )
        ]
        people = list(session.scalars(select(Person).where(Person.id.in_(ids)).order_by(Person.id))) if ids else []
        session.expunge_all()
        return people


def enqueue_updates(rt: Runtime, change: SeriesChange, *, now: datetime | None = None) -> int:
    """Tell the invited members of a change: a moved meeting as its override alone (REQUEST with RECURRENCE-ID),
    a skipped one as its cancellation alone (CANCEL with RECURRENCE-ID), anything else as the whole calendar."""
    if not change.changed or change.created:
        return 0
    now = now or datetime.now(UTC)
    stored = load_stored(rt.settings, change.slug)
    series = stored.series
    people = invited_members(rt, change.slug)
    keys = {p.id: _key(change.slug, p.id, UPDATE, change.sequence) for p in people}
    every = {o.recurrence_id.date(): o for o in occurrences(series, include_skipped=True)}

    sequences = meeting_sequences(rt, series)

    def invite_for(language: str) -> SeriesInvite:
        facts = series_facts(rt, stored, language)
        if change.full:
            return SeriesInvite(series, facts, "REQUEST", dtstamp=now, meeting_sequences=sequences)
        if change.skipped:
            return SeriesInvite(series, facts, "CANCEL", only=change.skipped, dtstamp=now, meeting_sequences=sequences)
        return SeriesInvite(series, facts, "REQUEST", only=change.moved, dtstamp=now, meeting_sequences=sequences)

    extra = {
        "change": SimpleNamespace(
            full=change.full,
            moved=[_meeting(every[d]) for d in change.moved if d in every],
            skipped=[_meeting(every[d]) for d in change.skipped if d in every],
        )
    }
    return _compose_all(rt, stored, people, UPDATE, keys, invite_for, extra, now)


# --- the members' personal data -----------------------------------------------------------------------


def _stored_slugs(settings: Settings) -> list[str]:
    return sorted(p.parent.name for p in events_dir(settings).glob(f"*/{STATE_FILE}"))


def active_series(settings: Settings, *, now: datetime | None = None) -> list[str]:
    """The stored series with a meeting still to come (by the rule, skipped ones aside)."""
    now = now or datetime.now(UTC)
    return [s for s in _stored_slugs(settings) if occurrences(load_stored(settings, s).series, after=now)[:1]]


def memberships(settings: Settings, address: str) -> list[dict[str, Any]]:
    """The series whose member list holds this address, with what it says about them (for a data export)."""
    out = []
    for slug in _stored_slugs(settings):
        for m in load_stored(settings, slug).series.members:
            if m.email == address:
                out.append({"series": slug, "name": m.name, "organisation": m.organisation, "language": m.language})
    return out


def forget_member(settings: Settings, address: str) -> list[str]:
    """Take the address off every series' member list (an erasure request); returns those series' slugs.

    The organiser's own member file is theirs to change: the series file's `members` CSV would bring the
    person back with the next `eventkit series update`, which the erasure report says."""
    changed = []
    for slug in _stored_slugs(settings):
        with _locked(settings, slug):
            stored = load_stored(settings, slug)
            kept = tuple(m for m in stored.series.members if m.email != address)
            if len(kept) != len(stored.series.members):
                stored.series = dataclasses.replace(stored.series, members=kept)
                _write(settings, stored)
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
    for slug in _stored_slugs(settings):
        with _locked(settings, slug):
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
                _write(settings, stored)
    return purged
