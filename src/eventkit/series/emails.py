"""A series' emails to its members: the invitation with the whole calendar, and its updates."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from eventkit.consent import consents
from eventkit.core.render import translate
from eventkit.db.store import OutboxMessage, Person
from eventkit.events.events import event_view, format_for
from eventkit.events.series_ref import INVITATION, invitation_key
from eventkit.mail import outbox
from eventkit.mail.compose import Recipient, compose
from eventkit.model.series import Occurrence, Series, occurrences, rhythm
from eventkit.runtime import Runtime
from eventkit.series.meetings import meeting_sequences
from eventkit.series.series_calendar import SeriesFacts, SeriesInvite
from eventkit.series.stored import SeriesChange, Stored, load_stored

UPDATE = "series-update"
KINDS = (INVITATION, UPDATE)
UPCOMING = 12  # meetings listed in the series invitation


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
