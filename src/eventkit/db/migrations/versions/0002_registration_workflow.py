"""registration workflow: double opt-in, personal links, check-in

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=10), nullable=False, server_default="public"))
        batch_op.add_column(sa.Column("token_nonce", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("pending", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_registrations_event_status_created", ["event_id", "status", "created_at"])
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("raw", existing_type=sa.LargeBinary(), nullable=True)
        batch_op.add_column(sa.Column("registration_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.create_index("ix_outbox_status_id", ["status", "id"])
        batch_op.create_foreign_key(
            "fk_outbox_registration_id_registrations", "registrations", ["registration_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbox_registration_id_registrations", type_="foreignkey")
        batch_op.drop_index("ix_outbox_status_id")
        batch_op.drop_column("params")
        batch_op.drop_column("registration_id")
        batch_op.alter_column("raw", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_index("ix_registrations_event_status_created")
        for column in (
            "checked_in_at",
            "cancelled_at",
            "confirmed_at",
            "revision",
            "expires_at",
            "pending",
            "token_nonce",
            "source",
        ):
            batch_op.drop_column(column)
