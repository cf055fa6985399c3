"""The store: SQLAlchemy 2 models, engine set-up and Alembic migrations (SQLite default, PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from eventkit.db import turn
from eventkit.db.turn import SQLITE_TIMEOUT

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which has no time zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    format: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    uid: Mapped[str] = mapped_column(String(200), unique=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    spec: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    invitations: Mapped[list[Invitation]] = relationship(back_populates="event")


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str | None] = mapped_column(String(300))
    language: Mapped[str] = mapped_column(String(5), default="de")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Invitation(Base):
    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("event_id", "person_id", name="uq_invitation_event_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    # only a keyed hash of the personal link's token is kept; the token itself lives in the sent email
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="invited")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[Event] = relationship(back_populates="invitations")
    person: Mapped[Person] = relationship()


class Registration(Base):
    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    __table_args__ = (
        UniqueConstraint("event_id", "person_id", name="uq_registration_event_person"),
        # places taken and the order of the waiting list are read by (event, status, created_at)
        Index("ix_registrations_event_status_created", "event_id", "status", "created_at"),
    )
    # pending (double opt-in not yet confirmed), registered, waitlisted, cancelled, expired
    status: Mapped[str] = mapped_column(String(20))
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # invited (came with a valid personal invitation link) or public (double opt-in)
    source: Mapped[str] = mapped_column(String(10), default="public")
    # personal links are HMACs over (purpose, registration id, this nonce): re-sendable, revoked by a new nonce
    token_nonce: Mapped[str] = mapped_column(String(64))
    # name, organisation and language as given in a public request, applied to the person once confirmed
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    expires_at: Mapped[datetime | None]  # an unconfirmed request lapses then
    # rises with every change that sends an email: part of that email's idempotency key
    revision: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    person: Mapped[Person] = relationship()


class Checkin(Base):
    """A person with a place was there on one day of the event: one row per day (eventkit.door.checkins).
    Registration.checked_in_at stays the earliest of them, for whatever asks only whether someone came."""

    __tablename__ = "checkins"
    # the unique index also serves the lookups by registration and the deletes cascading from it
    __table_args__ = (UniqueConstraint("registration_id", "day", name="uq_checkin_registration_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)  # a day of the event, in the event's time zone
    at: Mapped[datetime]  # when the organisers marked it


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_event_status", "event_id", "status"),
        # finds a person's email of a kind for an event (has this invitation been made?) without a scan
        Index("ix_outbox_event_person_kind", "event_id", "person_id", "kind"),
        # what a delivery claims (status, oldest first), without reading every stored message
        Index("ix_outbox_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # (event, recipient, kind, revision): a second attempt to create the same email finds this row
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(50))
    sender: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    subject: Mapped[str] = mapped_column(Text)
    # None until rendered: a registration's email is written as a row in the registration's transaction
    # (short, under the event's lock) and rendered by the delivery that sends it
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    smtputf8: Mapped[bool] = mapped_column(Boolean, default=False)
    # pending, sending (claimed by a delivery run), sent, retry, failed
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]
    # who holds a `sending` claim: a Prefect flow run's id (its retries take over its claims at once), or None
    claimed_by: Mapped[str | None] = mapped_column(String(64))


def normalise_url(url: str) -> str:
    """postgresql:// and postgres:// use psycopg 3, the driver eventkit installs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_TIMEOUT}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # positional parameters (%s, not %(name_m12)s): psycopg rewrites each statement's parameters into
    # PostgreSQL's in Python before sending it, in time that grows with the statement's length, and a batch's
    # multi-row INSERT is too long for its cache
    return create_engine(url, pool_pre_ping=True, paramstyle="format", **kwargs)


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already)."""
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """An engine plus a session factory; `with store.session() as s:` commits or rolls back as one."""

    def __init__(self, url: str, *, migrate_schema: bool = True):
        self.engine = make_engine(url)
        # writers that need the event's lock queue here, in order, instead of in the database: SQLite's busy
        # handler lets newcomers overtake (a long tail of waits), and on PostgreSQL many threads waiting for
        # one row lock only stretch the time it is held (they compete for the interpreter)
        database = self.engine.url.database
        # an in-memory SQLite database, which only this process (a child process has its own) can see
        self.in_memory = self.engine.dialect.name == "sqlite" and database in (None, "", ":memory:")
        self._writers: AbstractContextManager[Any]
        if self.engine.dialect.name != "sqlite":
            self._writers = threading.BoundedSemaphore(4)
        elif self.in_memory:
            self._writers = threading.BoundedSemaphore(1)
        else:
            assert database is not None  # a SQLite file
            self._writers = turn.for_file(database)
        if migrate_schema:
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def write_turn(self) -> AbstractContextManager[Any]:
        """Wait for this store's turn to write (see db.turn); the write_lock sessions and writing() take it."""
        return self._writers

    @contextmanager
    def session(self, *, write_lock: bool = False, write_at_end: bool = False) -> Iterator[Session]:
        """A transaction. write_lock=True on SQLite takes the write lock at its start (BEGIN IMMEDIATE),
        so that a read-then-write (count the places, then register) cannot be overtaken between its
        read and its write; on PostgreSQL such code locks its rows with SELECT ... FOR UPDATE.

        write_at_end=True is for a transaction that reads long and writes a little, without a read that its
        write depends on staying true (rendering a batch of emails): its changes are not flushed on the way,
        and go to the database at the end, in a write turn, so that the write lock is held only that long."""
        if write_at_end:
            with self._sessions() as session:
                session.begin()
                with session.no_autoflush:
                    yield session
                with self._writers:
                    session.commit()
            return
        if not write_lock:
            with self._sessions() as session, session.begin():
                yield session
            return
        with self._writers, self._sessions() as session, session.begin():
            if self.engine.dialect.name == "sqlite":
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A short Core transaction in this store's write turn (on SQLite with the write lock from its start)."""
        with self._writers, self.engine.begin() as connection:
            if self.engine.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()


class Survey(Base):
    """An event's follow-up survey: its questions as they were sent, who it is for, until when it is open."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), unique=True)
    # the questions as sent (eventkit.model.survey.Definition): later edits of the spec do not change them
    definition: Mapped[dict[str, Any]]
    audience: Mapped[str] = mapped_column(String(20))  # attended or registered
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]  # set when the organiser (or the evaluation) closes it early
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyToken(Base):
    """Whom a survey link was made for, and only whether they answered: no link to what they answered."""

    __tablename__ = "survey_tokens"
    __table_args__ = (UniqueConstraint("event_id", "registration_id", name="uq_survey_token_event_registration"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    # the link is an HMAC over (survey, this id, nonce); nothing secret is stored
    nonce: Mapped[str] = mapped_column(String(64))
    # no time: when someone answered could link them to a response
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyResponse(Base):
    """One anonymous response: the answers and the day, no person, no token, no time of day."""

    __tablename__ = "survey_responses"

    # random, not counting up: the order of the ids tells nothing about the order of answering
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    answers: Mapped[dict[str, Any]]
    submitted_on: Mapped[date] = mapped_column(Date)


class SessionProposal(Base):
    """A session someone proposed for an event (BarCamp): its hosts are registrations, its notes Markdown."""

    __tablename__ = "session_proposals"
    __table_args__ = (
        # a session idea from the registration form is taken over once per registration
        UniqueConstraint("event_id", "from_registration_id", name="uq_session_proposal_event_registration"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # registration ids of the hosts (one or more), in the order given
    hosts: Mapped[list[int]] = mapped_column(JSON, default=list)
    from_registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrations.id", ondelete="SET NULL"), nullable=True
    )
    source: Mapped[str] = mapped_column(String(20))  # registration, board or organiser
    status: Mapped[str] = mapped_column(String(20), default="open")  # open or withdrawn
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the notes link is an HMAC over (notes, this id, nonce): nothing secret is stored
    notes_nonce: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SessionInterest(Base):
    """A registered person's mark: I would like to attend this session."""

    __tablename__ = "session_interest"
    __table_args__ = (UniqueConstraint("proposal_id", "registration_id", name="uq_session_interest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("session_proposals.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SessionBoard(Base):
    """The organiser's working state of an event's session plan: the grid, the draft placements, the
    planner's explanations; published versions are SessionPlan rows."""

    __tablename__ = "session_boards"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), unique=True)
    grid: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # None: the spec's grid
    # {"placements": {proposal id: {"round": r, "room": name}}, "frozen": [proposal id, ...]}
    draft: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the last plan's explanations and figures: {"reasons": [{code, params}], "served": n, "interest": n}
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SessionPlan(Base):
    """A published version of an event's session plan, as it was published (titles and hosts included)."""

    __tablename__ = "session_plans"
    __table_args__ = (UniqueConstraint("event_id", "version", name="uq_session_plan_event_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    # {"grid": {...}, "entries": [{"id", "round", "room", "title", "description", "hosts": [names]}]}
    content: Mapped[dict[str, Any]]
    published_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkingGroupMember(Base):
    """A person's place in a working group (Netzwerktreffen), as eventkit assigned it."""

    __tablename__ = "working_group_members"
    __table_args__ = (UniqueConstraint("event_id", "registration_id", name="uq_working_group_member"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    group_name: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1: first choice; None: no choice met
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentRecord(Base):
    """One event of consent: a person granted or withdrew something (the privacy notice of an event, photos,
    being named as an organisation, future invitations), when, and through which form. Never updated: the
    newest record of a kind is the person's current choice, the older ones are the proof of what was before."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_person_kind", "person_id", "kind", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    # None for what is not about one event (future invitations)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # privacy_notice, photos, list_organisation, future_invitations
    granted: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[str | None] = mapped_column(String(20))  # the privacy notice's version
    source: Mapped[str] = mapped_column(String(30))  # registration, confirmation, manage-page, unsubscribe-link, ...
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class PurgeRecord(Base):
    """What the retention purge did to an event, and the figures it kept (counted before anything went)."""

    __tablename__ = "purge_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), unique=True)
    # counts per status, attended (and per day), organisations, survey invited/answered, emails sent:
    # no personal data
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    personal_purged_at: Mapped[datetime | None]
    funder_purged_at: Mapped[datetime | None]
