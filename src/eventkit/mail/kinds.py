"""The registry of email kinds the delivery renders: each feature registers its own when it is imported.

Some emails are written into the outbox unrendered, inside the short transaction that causes them (a
registration, a batch of reminders), and rendered by the delivery that sends them. The mail layer knows
no feature: a feature registers how to render its kinds here, and the entry points import every feature
(eventkit.features) before they deliver. A kind nobody registered is an error, not a silent skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from eventkit.db.store import OutboxMessage
from eventkit.runtime import Runtime

# renders a batch of one feature's unrendered rows in place (raw, subject, smtputf8), or marks a row failed
# (status and last_error) when it should not go out any more; one call per batch and renderer
Render = Callable[[Session, Runtime, Sequence[OutboxMessage], datetime], None]


class UnknownKind(LookupError):
    """An unrendered email whose kind no imported feature has registered."""

    def __init__(self, kind: str):
        super().__init__(
            f"no renderer for the email kind {kind!r}: import its feature first (import eventkit.features)"
        )
        self.kind = kind


_renderers: dict[str, tuple[str, Render]] = {}


def register(kinds: Iterable[str], render: Render, *, owner: str) -> None:
    """Let `render` render the unrendered rows of `kinds`; `owner` (the feature's module) may register again."""
    for kind in kinds:
        known = _renderers.get(kind)
        if known is not None and known[0] != owner:
            raise ValueError(f"the email kind {kind!r} is registered by {known[0]} already")
        _renderers[kind] = (owner, render)


def registered() -> dict[str, str]:
    """Every kind with a renderer, and the module that registered it."""
    return {kind: owner for kind, (owner, _) in _renderers.items()}


def renderer(kind: str) -> Render:
    try:
        return _renderers[kind][1]
    except KeyError:
        raise UnknownKind(kind) from None


def render_pending(rt: Runtime, ids: Sequence[int]) -> None:
    """Render the rows among ids that are not rendered yet (a claimed delivery batch), each by its kind's renderer."""
    if not ids:
        return
    now = datetime.now(UTC)
    # rendering takes a while (milliseconds per email); the rendered emails are written at the end, in one
    # short write, so that registrations never wait for the rendering
    with rt.store.session(write_at_end=True) as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.raw.is_(None))
        ).all()
        batches: dict[Render, list[OutboxMessage]] = {}
        for row in rows:
            batches.setdefault(renderer(row.kind), []).append(row)
        for render, batch in batches.items():
            render(session, rt, batch, now)
