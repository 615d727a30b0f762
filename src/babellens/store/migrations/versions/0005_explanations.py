"""unit explanations with their scores, and full-text search over them

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PG_DOCUMENT = "to_tsvector('simple', coalesce(text, '') || ' ' || coalesce(tokens, ''))"


def upgrade() -> None:
    op.create_table(
        "explanations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=512), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=False),
        sa.Column("unit_index", sa.Integer(), nullable=False),
        sa.Column("explainer", sa.String(length=256), nullable=False),
        sa.Column("judge", sa.String(length=256), nullable=False),
        sa.Column("prompt_version", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tokens", sa.Text(), nullable=False),
        sa.Column("detection", sa.Float(), nullable=True),
        sa.Column("detection_random", sa.Float(), nullable=True),
        sa.Column("fuzzing", sa.Float(), nullable=True),
        sa.Column("fuzzing_random", sa.Float(), nullable=True),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("embedder", sa.String(length=256), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "job_id", "source", "layer", "unit_index", "explainer", name="uq_explanations_unit"
        ),
    )
    with op.batch_alter_table("explanations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_explanations_unit", ["model", "source", "layer", "unit_index"], unique=False
        )
        batch_op.create_index("ix_explanations_job", ["job_id"], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # external-content FTS5 table kept in step by triggers (they also fire on FK cascades)
        op.execute(
            "CREATE VIRTUAL TABLE explanations_fts USING fts5("
            "text, tokens, content='explanations', content_rowid='id', tokenize='unicode61')"
        )
        op.execute(
            "CREATE TRIGGER explanations_fts_ai AFTER INSERT ON explanations BEGIN "
            "INSERT INTO explanations_fts(rowid, text, tokens) VALUES (new.id, new.text, new.tokens); END"
        )
        op.execute(
            "CREATE TRIGGER explanations_fts_ad AFTER DELETE ON explanations BEGIN "
            "INSERT INTO explanations_fts(explanations_fts, rowid, text, tokens) "
            "VALUES ('delete', old.id, old.text, old.tokens); END"
        )
        op.execute(
            "CREATE TRIGGER explanations_fts_au AFTER UPDATE ON explanations BEGIN "
            "INSERT INTO explanations_fts(explanations_fts, rowid, text, tokens) "
            "VALUES ('delete', old.id, old.text, old.tokens); "
            "INSERT INTO explanations_fts(rowid, text, tokens) VALUES (new.id, new.text, new.tokens); END"
        )
    elif dialect == "postgresql":
        op.execute(f"CREATE INDEX ix_explanations_fts ON explanations USING gin ({_PG_DOCUMENT})")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS explanations_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS explanations_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_explanations_fts")
    with op.batch_alter_table("explanations", schema=None) as batch_op:
        batch_op.drop_index("ix_explanations_job")
        batch_op.drop_index("ix_explanations_unit")
    op.drop_table("explanations")
