"""every report in ``reports``: look-up reports move there from their own table; steering
evaluations and cross-lingual experiments, which kept their report in ``jobs.summary``, are
copied there too (their summaries stay as they were: a reader of this version reads ``reports``)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# report_kind and report_version of the models that read them (lookups, crossling v2, steering v1)
_SUMMARY_REPORTS = {"steering_eval": 1, "crossling": 2}


def _reports() -> sa.Table:
    return sa.table(
        "reports",
        sa.column("job_id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("model", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("report", sa.JSON()),
    )


def upgrade() -> None:
    bind = op.get_bind()
    reports = _reports()
    lookups = sa.table(
        "lookups_reports",
        sa.column("job_id", sa.Integer()),
        sa.column("version", sa.Integer()),
        sa.column("model", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("report", sa.JSON()),
    )
    rows = [dict(r._mapping) | {"kind": "lookups"} for r in bind.execute(sa.select(lookups))]
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("model", sa.String()),
        sa.column("status", sa.String()),
        sa.column("summary", sa.JSON()),
        sa.column("finished_at", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    done = sa.select(jobs).where(jobs.c.status == "done", jobs.c.kind.in_(_SUMMARY_REPORTS))
    for job in bind.execute(done):
        if not job.summary:
            continue
        version = job.summary.get("version", _SUMMARY_REPORTS[job.kind])
        rows.append(
            {
                "job_id": job.id,
                "kind": job.kind,
                "version": version,
                "model": job.model,
                "created_at": job.finished_at or job.created_at,
                "report": job.summary,
            }
        )
    if rows:
        op.bulk_insert(reports, rows)
    with op.batch_alter_table("lookups_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lookups_reports_model"))
    op.drop_table("lookups_reports")


def downgrade() -> None:
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
    reports = _reports()
    bind = op.get_bind()
    query = sa.select(reports).where(reports.c.kind == "lookups")
    rows = [{k: v for k, v in r._mapping.items() if k != "kind"} for r in bind.execute(query)]
    if rows:
        lookups = sa.table(
            "lookups_reports",
            sa.column("job_id", sa.Integer()),
            sa.column("version", sa.Integer()),
            sa.column("model", sa.String()),
            sa.column("created_at", sa.DateTime(timezone=True)),
            sa.column("report", sa.JSON()),
        )
        op.bulk_insert(lookups, rows)
    bind.execute(sa.delete(reports).where(reports.c.kind == "lookups"))
