"""Host notes: the personal notes link and page, and the published sessions' notes for the recap."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from eventkit.core.tokens import signed_token, token_subject, verify_signed
from eventkit.core.validation import Problems
from eventkit.db.store import SessionProposal
from eventkit.events.events import find_event
from eventkit.runtime import Runtime
from eventkit.sessions.board import SessionView
from eventkit.sessions.participants import InvalidBoardLink, names_of
from eventkit.sessions.proposals import checked_text, open_proposal
from eventkit.sessions.publish import published

MAX_NOTES = 20_000


def notes_url(rt: Runtime, slug: str, proposal_id: int, nonce: str) -> str:
    token = signed_token(rt.settings.secret_key, "notes", proposal_id, nonce)
    return f"{rt.settings.base_url}/e/{slug}/sessions/{proposal_id}/notes?t={token}"


def notes_link(rt: Runtime, slug: str, proposal_id: int) -> str:
    """The personal link to a session's notes page (for its hosts, and for the organiser)."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        proposal = open_proposal(session, event, proposal_id)
        return notes_url(rt, slug, proposal.id, proposal.notes_nonce)


def _by_notes_token(session: DbSession, rt: Runtime, slug: str, proposal_id: int, token: str) -> SessionProposal:
    event = find_event(session, slug)
    proposal = session.get(SessionProposal, proposal_id)
    if (
        proposal is None
        or proposal.event_id != event.id
        or proposal.status != "open"
        or token_subject(token or "") != proposal_id
        or not verify_signed(rt.settings.secret_key, "notes", token, proposal.id, proposal.notes_nonce)
    ):
        raise InvalidBoardLink(slug)
    return proposal


def notes_session(rt: Runtime, slug: str, proposal_id: int, token: str) -> SessionView:
    """The session a notes link is for (read only); InvalidLink for any other link."""
    with rt.store.session() as session:
        proposal = _by_notes_token(session, rt, slug, proposal_id, token)
        names = names_of(session, proposal.hosts or [])
        return SessionView(
            key=str(proposal.id),
            id=proposal.id,
            title=proposal.title,
            description=proposal.description or "",
            hosts=tuple(names[h] for h in proposal.hosts or [] if h in names),
            host_ids=tuple(proposal.hosts or []),
            interest=0,
            notes=proposal.notes or "",
        )


def save_notes(rt: Runtime, slug: str, proposal_id: int, token: str, text: object) -> None:
    """Keep a session's notes (Markdown); ValidationFailed names the field `notes`."""
    problems = Problems()
    notes = checked_text(problems, "notes", text, MAX_NOTES, required=False, one_line=False)
    problems.raise_if_any()
    with rt.store.session(write_lock=True) as session:
        proposal = _by_notes_token(session, rt, slug, proposal_id, token)
        proposal.notes = notes or None


def recap_sessions(rt: Runtime, slug: str) -> list[dict[str, Any]]:
    """The published grid with the hosts' notes, in the shape of the recap input's `sessions` (round and
    table counted from 1); empty without a published plan."""
    plan_ = published(rt, slug)
    if plan_ is None:
        return []
    with rt.store.session() as session:
        notes: dict[int, str | None] = dict(
            session.execute(  # type: ignore[arg-type]
                select(SessionProposal.id, SessionProposal.notes).where(
                    SessionProposal.id.in_([e.id for e in plan_.entries])
                )
            ).all()
        )
    return [
        {
            "round": e.round + 1,
            "table": plan_.grid.table_number(e.room),
            "title": e.title,
            "host": ", ".join(e.hosts),
            "notes": notes.get(e.id) or "",
        }
        for e in sorted(plan_.entries, key=lambda e: (e.round, plan_.grid.table_number(e.room)))
    ]
