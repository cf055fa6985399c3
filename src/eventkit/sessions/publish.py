"""The published session plan: numbered versions, what the plan page shows, and the wall poster (PDF)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import select

from eventkit.core.errors import UserError
from eventkit.core.files import event_dir, write_atomic
from eventkit.core.i18n import LANGUAGES
from eventkit.core.validation import N_
from eventkit.db.store import SessionPlan, SessionProposal
from eventkit.documents.pdf import SafeFetcher, print_environment, render_pdf
from eventkit.events.events import event_view, find_event, format_for, public_url
from eventkit.model.grid import SessionGrid
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime
from eventkit.sessions.grid import board_of, draft_data, grid_for, slot_of
from eventkit.sessions.participants import names_of, registered_ids
from eventkit.sessions.proposals import is_active


class NotPublished(LookupError, UserError):
    """The event has no published session plan yet."""

    message = N_("The session plan has not been published yet.")
    status = 404


class NothingToPublish(NotPublished):
    """There is no draft plan to publish: the sessions have not been planned into the grid."""

    message = N_("There is no plan to publish yet: plan the sessions first.")
    status = 409


@dataclass(frozen=True)
class PlanEntry:
    id: int
    round: int  # from 0
    room: str
    title: str
    description: str
    hosts: tuple[str, ...]
    host_ids: tuple[int, ...]


@dataclass(frozen=True)
class PublishedPlan:
    version: int
    published_at: datetime
    grid: SessionGrid
    entries: tuple[PlanEntry, ...]
    by_slot: dict[tuple[int, str], PlanEntry] = field(default_factory=dict)

    def cell(self, round_index: int, room: str) -> PlanEntry | None:
        return self.by_slot.get((round_index, room))


def plan_from(row: SessionPlan) -> PublishedPlan:
    content = row.content
    grid = SessionGrid.from_data(content["grid"])
    entries = tuple(
        PlanEntry(
            e["id"],
            e["round"],
            e["room"],
            e["title"],
            e.get("description", ""),
            tuple(e.get("hosts", [])),
            tuple(e.get("host_ids", [])),
        )
        for e in content["entries"]
    )
    return PublishedPlan(row.version, row.published_at, grid, entries, {(e.round, e.room): e for e in entries})


def publish(rt: Runtime, slug: str, *, now: datetime | None = None) -> PublishedPlan:
    """Publish the draft as the next version (unchanged since the last one: that one stays)."""
    now = now or datetime.now(UTC)
    with rt.store.session(write_lock=True) as session:
        event = find_event(session, slug, lock=True)
        row = board_of(session, event)
        grid = grid_for(event, row)
        data = draft_data(row)
        if grid is None or not data["placements"]:
            raise NothingToPublish(slug)
        registered = registered_ids(session, event.id)
        proposals = {
            p.id: p
            for p in session.scalars(select(SessionProposal).where(SessionProposal.event_id == event.id))
            if is_active(p, registered)
        }
        names = names_of(session, [h for p in proposals.values() for h in p.hosts or []])
        entries = []
        for key, value in sorted(data["placements"].items(), key=lambda kv: (kv[1]["round"], kv[1]["room"])):
            slot = slot_of(value)
            if not key.isdigit() or int(key) not in proposals or slot is None or not grid.has(slot.round, slot.room):
                continue
            p = proposals[int(key)]
            entries.append(
                {
                    "id": p.id,
                    "round": slot.round,
                    "room": slot.room,
                    "title": p.title,
                    "description": p.description or "",
                    "hosts": [names[h] for h in p.hosts or [] if h in names],
                    "host_ids": list(p.hosts or []),
                }
            )
        content = {"grid": grid.to_data(), "entries": entries}
        latest = session.scalar(
            select(SessionPlan).where(SessionPlan.event_id == event.id).order_by(SessionPlan.version.desc()).limit(1)
        )
        if latest is not None and latest.content == content:
            return plan_from(latest)
        version = (latest.version if latest is not None else 0) + 1
        new = SessionPlan(event_id=event.id, version=version, content=content, published_at=now)
        session.add(new)
        session.flush()
        return plan_from(new)


def published(rt: Runtime, slug: str) -> PublishedPlan | None:
    """The newest published plan, or None."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        row = session.scalar(
            select(SessionPlan).where(SessionPlan.event_id == event.id).order_by(SessionPlan.version.desc()).limit(1)
        )
        return plan_from(row) if row is not None else None


def plan_view(plan_: PublishedPlan, spec: EventSpec) -> SimpleNamespace:
    """What the plan page, the poster and the email show: rounds with times, rooms, the cell per slot."""
    rounds = [SimpleNamespace(index=i, number=i + 1, start=r.start, end=r.end) for i, r in enumerate(plan_.grid.rounds)]
    return SimpleNamespace(
        version=plan_.version,
        published_at=plan_.published_at.astimezone(spec.start.tzinfo),
        rounds=rounds,
        rooms=list(plan_.grid.rooms),
        cell=plan_.cell,
        entries=plan_.entries,
        by_round=[[e for e in plan_.entries if e.round == r.index] for r in rounds],
    )


def plan_pdf(rt: Runtime, slug: str, language: str | None = None, *, out: Path | None = None) -> Path:
    """The published plan as a landscape wall poster (A3), cached per plan version and language."""
    plan_ = published(rt, slug)
    if plan_ is None:
        raise NotPublished(slug)
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = EventSpec.from_data(event.spec)
        # a changed event (a new title or venue) makes a new poster of the same plan version
        stamp = int(event.updated_at.timestamp())
    language = language if language in LANGUAGES else spec.language
    folder = event_dir(rt.settings, slug)
    target = out or folder / f"session-plan-{slug}-v{plan_.version}-{language}-{stamp}.pdf"
    if out is None and target.is_file():
        return target
    fmt = format_for(rt.settings, spec.format)
    env = print_environment(rt.settings, spec.format, language)
    html = env.get_template("print/session-plan.html").render(
        event=event_view(spec, fmt),
        format=SimpleNamespace(name=fmt.name, title=fmt.title.get(language)),
        plan=plan_view(plan_, spec),
        plan_url=f"{public_url(rt.settings, slug)}/plan",
    )
    roots = [rt.settings.template_dir]
    data = render_pdf(html, base_dir=rt.settings.template_dir, allowed_roots=roots, fetcher=SafeFetcher(roots))
    return write_atomic(target, data)
