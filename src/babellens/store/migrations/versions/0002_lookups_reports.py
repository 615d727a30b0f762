"""context look-up reports

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lookups_reports",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("lookups_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lookups_reports_model"), ["model"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lookups_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lookups_reports_model"))
    op.drop_table("lookups_reports")
