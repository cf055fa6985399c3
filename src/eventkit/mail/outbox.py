"""The outbox: every email is a row first (idempotency key, fixed Message-ID); delivery only sends rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, false, func, insert, select, update
from sqlalchemy.orm import Session

from eventkit.db.store import Event, OutboxMessage, utcnow

_OUTBOX = cast(Table, OutboxMessage.__table__)
_INSERT = insert(_OUTBOX)
_INSERT_ONE = _INSERT.returning(_OUTBOX.c.id)
_INSERT_MANY = _INSERT.returning(_OUTBOX.c.id, sort_by_parameter_order=True)

SENDABLE = ("pending", "retry")
# a claim (status `sending`) older than this belongs to a delivery that died: another delivery takes it over
CLAIM_LEASE = timedelta(minutes=10)
# how a transport's detail begins when it could not hand a message to the relay at all: the relay is down,
# unreachable, or refused the connection (not a deferral of one message)
CONNECTION_FAILED = "connection failed:"
CONNECTION_REFUSED = "connection refused by the server:"


def is_unreachable(detail: str | None) -> bool:
    """Whether a deferral's detail says the relay could not be reached (see CONNECTION_FAILED)."""
    return bool(detail) and str(detail).startswith((CONNECTION_FAILED, CONNECTION_REFUSED))


def taken_over(now: datetime, claimant: str | None, dead: Collection[str] = ()):  # type: ignore[no-untyped-def]
    """Claims a delivery may take: those of an earlier attempt of the same claimant (a retried flow run: its
    earlier attempt is dead, Prefect runs one attempt of a run at a time), those of claimants known to be dead
    (`dead`: the entry points ask Prefect, or the process, see flows/claims.py), and any whose lease ran out
    (a claimant nobody could ask about)."""
    claimed = OutboxMessage.status == "sending"
    own = (OutboxMessage.claimed_by == claimant) if claimant else false()
    gone = OutboxMessage.claimed_by.in_(sorted(dead)) if dead else false()
    return claimed & ((OutboxMessage.updated_at < now - CLAIM_LEASE) | own | gone)


def claimants(session: Session, *, event_id: int | None = None, kinds: Sequence[str] | None = None) -> set[str]:
    """Who holds claims now (of one event, of some kinds of email), to ask whether they still live."""
    query = select(OutboxMessage.claimed_by).where(
        OutboxMessage.status == "sending", OutboxMessage.claimed_by.is_not(None)
    )
    if event_id is not None:
        query = query.where(OutboxMessage.event_id == event_id)
    if kinds is not None:
        query = query.where(OutboxMessage.kind.in_(kinds))
    return {c for c in session.scalars(query.distinct()) if c}


@dataclass(frozen=True)
class Outgoing:
    """What a transport needs of one outbox row."""

    id: int
    sender: str
    recipient: str
    raw: bytes
    smtputf8: bool
    name: str  # a file name hint for the mail-directory transport


@dataclass(frozen=True)
class DeliveryResult:
    id: int
    status: str  # sent, retry, failed
    detail: str | None = None


@dataclass
class DeliveryReport:
    """Figures for one event and kind of email, as the delivery-report artifact shows them."""

    total: int = 0
    sent: int = 0
    retried: int = 0  # sent, but only after more than one attempt
    waiting: int = 0  # pending or awaiting a retry
    in_flight: int = 0  # claimed by a delivery that is sending them now (another run, or one that died)
    failed: int = 0
    failures: list[tuple[int, str, str]] = field(default_factory=list)  # (outbox id, recipient, reason)
    deferrals: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def not_sent(self) -> int:
        """Everything still to go out, whoever holds it: waiting in the queue or claimed by a delivery."""
        return self.waiting + self.in_flight

    @property
    def unreachable(self) -> str | None:
        """Why the relay could not be reached, when that is what keeps messages waiting (see is_unreachable)."""
        return next((reason for _, _, reason in self.deferrals if is_unreachable(reason)), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "sent": self.sent,
            "retried": self.retried,
            "waiting": self.waiting,
            "in_flight": self.in_flight,
            "failed": self.failed,
        }


def enqueue(session: Session, rows: Sequence[dict[str, Any]], *, ids: bool = True) -> list[int]:
    """Insert rendered emails; the caller has dropped keys that exist (the unique key guards the rest).

    ids=False: the caller needs no ids back (an empty list comes back), and a few dozen rows are written as
    one pipelined executemany, which on PostgreSQL takes half the time of one multi-row INSERT ... RETURNING
    (whose long text psycopg rewrites in Python each time)."""
    if not rows:
        return []
    now = utcnow()
    values = [{"status": "pending", "attempts": 0, "created_at": now, "updated_at": now, **row} for row in rows]
    # a Core INSERT on the session's connection: the ORM's bulk insert costs about 1 ms more per call, and a
    # registration makes one on every request, under the event's lock
    session.flush()  # what the ORM statement did by itself: rows the new ones refer to are written first
    connection = session.connection()
    # one statement needs the same columns in every row
    same_columns = all(v.keys() == values[0].keys() for v in values)
    if not ids and same_columns:
        connection.execute(_INSERT, values)
        return []
    if len(values) == 1:
        return [connection.execute(_INSERT_ONE, values[0]).scalar_one()]
    if not same_columns:
        return list(
            session.scalars(insert(OutboxMessage).returning(OutboxMessage.id, sort_by_parameter_order=True), values)
        )
    return list(connection.execute(_INSERT_MANY, values).scalars())


def sendable(session: Session, ids: Sequence[int], statuses: Sequence[str] = SENDABLE) -> list[Outgoing]:
    """The rendered rows among ids still to be sent (a rerun skips what went out before); a delivery that
    claimed its rows asks for statuses=("sending",)."""
    out: list[Outgoing] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.sender,
                OutboxMessage.recipient,
                OutboxMessage.raw,
                OutboxMessage.smtputf8,
                OutboxMessage.kind,
                Event.slug,
            )
            .outerjoin(Event, Event.id == OutboxMessage.event_id)
            .where(OutboxMessage.id.in_(chunk), OutboxMessage.status.in_(statuses), OutboxMessage.raw.is_not(None))
            .order_by(OutboxMessage.id)
        )
        out.extend(
            Outgoing(r.id, r.sender, r.recipient, r.raw or b"", r.smtputf8, _file_name(r.slug, r.kind, r.id))
            for r in rows
        )
    return out


def _file_name(slug: str | None, kind: str, outbox_id: int) -> str:
    return f"{slug or 'eventkit'}-{kind}-{outbox_id:07d}"


def record(session: Session | Connection, results: Iterable[DeliveryResult]) -> None:
    now = utcnow()
    by_status: dict[tuple[str, str | None], list[int]] = {}
    for r in results:
        by_status.setdefault((r.status, r.detail), []).append(r.id)
    for (status, detail), ids in by_status.items():
        values: dict[str, Any] = {
            "status": status,
            "attempts": OutboxMessage.attempts + 1,
            "last_error": detail if status != "sent" else OutboxMessage.last_error,
            "updated_at": now,
        }
        if status == "sent":
            values["sent_at"] = now
        for start in range(0, len(ids), 500):
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids[start : start + 500])).values(values))


def defer(connection: Connection, ids: Sequence[int], detail: str) -> int:
    """Leave messages that were not tried waiting for a retry, with the reason (the relay is unreachable, so
    the rest of a batch is not tried): the next run or the delivery sweep sends them. Claims of others and
    outcomes already recorded are left alone; no attempt is counted. Returns how many now wait."""
    now = utcnow()
    deferred = 0
    for start in range(0, len(ids), 500):
        deferred += connection.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids[start : start + 500]), OutboxMessage.status.in_(SENDABLE))
            .values(status="retry", last_error=detail, updated_at=now)
        ).rowcount
    return deferred


def report(session: Session, *, event_id: int, kind: str) -> DeliveryReport:
    rep = DeliveryReport()
    rows = session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.event_id == event_id, OutboxMessage.kind == kind)
        .group_by(OutboxMessage.status)
    ).all()
    counts: Counter[str] = Counter({status: n for status, n in rows})
    rep.sent = counts["sent"]
    rep.failed = counts["failed"]
    rep.waiting = counts["pending"] + counts["retry"]
    rep.in_flight = counts["sending"]
    rep.total = sum(counts.values())
    rep.retried = (
        session.scalar(
            select(func.count()).where(
                OutboxMessage.event_id == event_id,
                OutboxMessage.kind == kind,
                OutboxMessage.status == "sent",
                OutboxMessage.attempts > 1,
            )
        )
        or 0
    )
    for status, target in (("failed", rep.failures), ("retry", rep.deferrals)):
        for row in session.execute(
            select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.last_error)
            .where(OutboxMessage.event_id == event_id, OutboxMessage.kind == kind, OutboxMessage.status == status)
            .order_by(OutboxMessage.id)
            .limit(200)
        ):
            target.append((row.id, row.recipient, row.last_error or ""))
    return rep
