"""checkins: attendance per day of an event; each registration's check-in so far becomes one on its day

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# as the tables are at this revision: the copy below must not follow later changes of the models
events = sa.table(
    "events",
    sa.column("id", sa.Integer()),
    sa.column("timezone", sa.String()),
    sa.column("starts_at", sa.DateTime(timezone=True)),
    sa.column("ends_at", sa.DateTime(timezone=True)),
)
registrations = sa.table(
    "registrations",
    sa.column("id", sa.Integer()),
    sa.column("event_id", sa.Integer()),
    sa.column("checked_in_at", sa.DateTime(timezone=True)),
)


def _aware(value: datetime) -> datetime:
    # SQLite gives back the naive UTC time eventkit stored there, PostgreSQL an aware one
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _day(checked_in_at: datetime, timezone: str, starts_at: datetime, ends_at: datetime) -> date:
    """The event's day of a check-in in the event's time zone, else (a check-in outside the event) its first."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    first = _aware(starts_at).astimezone(zone).date()
    last = (_aware(ends_at) - timedelta(microseconds=1)).astimezone(zone).date()
    day = _aware(checked_in_at).astimezone(zone).date()
    return day if first <= day <= last else first


def upgrade() -> None:
    checkins = op.create_table(
        "checkins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["registration_id"], ["registrations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("registration_id", "day", name="uq_checkin_registration_day"),
    )
    rows = (
        op.get_bind()
        .execute(
            sa.select(
                registrations.c.id,
                registrations.c.checked_in_at,
                events.c.timezone,
                events.c.starts_at,
                events.c.ends_at,
            )
            .join(events, events.c.id == registrations.c.event_id)
            .where(registrations.c.checked_in_at.is_not(None))
            .order_by(registrations.c.id)
        )
        .all()
    )
    # the time goes in as it came out: naive UTC on SQLite, aware on PostgreSQL, as eventkit's type stores it
    copied = [
        {
            "registration_id": r.id,
            "day": _day(r.checked_in_at, r.timezone, r.starts_at, r.ends_at),
            "at": r.checked_in_at,
        }
        for r in rows
    ]
    for start in range(0, len(copied), 1000):
        op.bulk_insert(checkins, copied[start : start + 1000])


def downgrade() -> None:
    op.drop_table("checkins")
