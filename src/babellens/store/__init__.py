"""Persistent store: SQLAlchemy 2 on SQLite (default) or PostgreSQL, migrated with Alembic."""

from babellens.store.database import Database, DatabaseError, default_db_url, open_database
from babellens.store.jobs import JOB_STATUSES, Job, JobStore, latest_job, latest_jobs
from babellens.store.reports import Report, ReportListing, ReportStore
from babellens.store.results import (
    Histogram,
    LayerScan,
    NeuronExample,
    NeuronRecord,
    ResultStore,
)

__all__ = [
    "JOB_STATUSES",
    "Database",
    "DatabaseError",
    "Histogram",
    "Job",
    "JobStore",
    "LayerScan",
    "NeuronExample",
    "NeuronRecord",
    "Report",
    "ReportListing",
    "ReportStore",
    "ResultStore",
    "default_db_url",
    "latest_job",
    "latest_jobs",
    "open_database",
]
