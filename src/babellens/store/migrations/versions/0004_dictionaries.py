"""sparse dictionaries (SAEs, transcoders and sets of them)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dictionaries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("model", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("activation", sa.String(length=16), nullable=False),
        sa.Column("hook_in", sa.String(length=64), nullable=False),
        sa.Column("hook_out", sa.String(length=64), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("d_in", sa.Integer(), nullable=False),
        sa.Column("d_out", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("k", sa.Integer(), nullable=True),
        sa.Column("tokens_trained", sa.BigInteger(), nullable=False),
        sa.Column("corpus", sa.String(length=512), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dictionaries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dictionaries_model"), ["model"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dictionaries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dictionaries_model"))
    op.drop_table("dictionaries")
