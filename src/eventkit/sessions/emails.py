"""The session plan email: the published plan to everyone with a place, once per plan version."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from eventkit.core.i18n import LANGUAGES
from eventkit.core.tokens import signed_token
from eventkit.db.store import Event, OutboxMessage, Person, Registration, SessionInterest, SessionProposal
from eventkit.events.events import event_view, find_event, format_for, public_url
from eventkit.mail import outbox
from eventkit.mail.compose import Recipient, compose
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime
from eventkit.sessions.notes import notes_url
from eventkit.sessions.publish import NotPublished, plan_view, published

KIND = "session-plan"


def plan_key(event: Event, person_id: int, version: int) -> str:
    # once per person and published version: a corrected plan goes out again, the same one never twice
    return f"{event.id}:{person_id}:{KIND}:{version}"


def enqueue_plan_emails(rt: Runtime, slug: str, *, now: datetime | None = None, batch: int = 50) -> dict[str, int]:
    """Put the published plan into the outbox for every registered person, once per plan version: the whole
    plan, the sessions they marked, and for hosts the personal link for their notes."""
    now = now or datetime.now(UTC)
    plan_ = published(rt, slug)
    if plan_ is None:
        raise NotPublished(slug)
    with rt.store.session() as session:
        event = find_event(session, slug)
        session.expunge(event)
        spec = EventSpec.from_data(event.spec)
        people = session.execute(
            select(Registration, Person)
            .join(Person, Person.id == Registration.person_id)
            .where(Registration.event_id == event.id, Registration.status == "registered")
            .order_by(Registration.id)
        ).all()
        marks: dict[int, set[int]] = {}
        for proposal_id, registration_id in session.execute(
            select(SessionInterest.proposal_id, SessionInterest.registration_id)
            .join(SessionProposal, SessionProposal.id == SessionInterest.proposal_id)
            .where(SessionProposal.event_id == event.id)
        ):
            marks.setdefault(registration_id, set()).add(proposal_id)
        nonces: dict[int, str] = dict(
            session.execute(  # type: ignore[arg-type]
                select(SessionProposal.id, SessionProposal.notes_nonce).where(
                    SessionProposal.id.in_([e.id for e in plan_.entries])
                )
            ).all()
        )
        keys = {plan_key(event, person.id, plan_.version): (registration, person) for registration, person in people}
        existing = set(
            session.scalars(select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(list(keys))))
        )
        people_data = [
            (key, r.id, r.token_nonce, p.id, p.name, p.email, p.organisation, p.language)
            for key, (r, p) in keys.items()
            if key not in existing
        ]
    result = {"plan": 0, "already": len(keys) - len(people_data), "version": plan_.version}
    fmt = format_for(rt.settings, spec.format)
    base = rt.settings.base_url
    shared: dict[str, dict[str, Any]] = {}
    view = plan_view(plan_, spec)
    for start in range(0, len(people_data), batch):
        rows = []
        for key, registration_id, nonce, person_id, name, email, organisation, person_language in people_data[
            start : start + batch
        ]:
            language = person_language if person_language in LANGUAGES else spec.language
            recipient = Recipient(name, email, organisation, language)
            manage = signed_token(rt.settings.secret_key, "manage", registration_id, nonce)
            hosted = [e for e in plan_.entries if registration_id in e.host_ids]
            wanted = [e for e in plan_.entries if e.id in marks.get(registration_id, set()) and e not in hosted]
            context = {
                "event": event_view(spec, fmt),
                "format": SimpleNamespace(name=fmt.name, title=fmt.title.get(language)),
                "recipient": recipient,
                "links": SimpleNamespace(
                    event=public_url(rt.settings, slug),
                    plan=f"{base}/e/{slug}/plan",
                    poster=f"{base}/e/{slug}/plan.pdf",
                    board=f"{base}/e/{slug}/sessions?t={manage}",
                    manage=f"{base}/e/{slug}/manage?t={manage}",
                ),
                "plan": view,
                "mine": SimpleNamespace(
                    hosted=[
                        SimpleNamespace(
                            entry=e, round=view.rounds[e.round], notes=notes_url(rt, slug, e.id, nonces[e.id])
                        )
                        for e in hosted
                        if e.id in nonces
                    ],
                    wanted=[SimpleNamespace(entry=e, round=view.rounds[e.round]) for e in wanted],
                ),
            }
            row = compose(
                settings=rt.settings,
                renderer=rt.renderer,
                format_name=fmt.name,
                template=KIND,
                recipient=recipient,
                context=context,
                organiser=(spec.organiser.name, spec.organiser.email),
                idempotency_key=key,
                event_id=event.id,
                person_id=person_id,
                now=now,
                shared=shared.setdefault(language, {}),
            )
            row["registration_id"] = registration_id
            row["params"] = {"version": plan_.version}
            rows.append(row)
        with rt.store.session() as session:
            # a second sender at the same moment (two clicks) may have written some: those are left out
            taken = set(
                session.scalars(
                    select(OutboxMessage.idempotency_key).where(
                        OutboxMessage.idempotency_key.in_([r["idempotency_key"] for r in rows])
                    )
                )
            )
            fresh = [r for r in rows if r["idempotency_key"] not in taken]
            outbox.enqueue(session, fresh)
        result["plan"] += len(fresh)
        result["already"] += len(rows) - len(fresh)
    return result
