"""Persistent store: SQLAlchemy 2 on SQLite (default) or PostgreSQL, migrated with Alembic."""

from babellens.store.database import Database, DatabaseError, default_db_url, open_database
from babellens.store.jobs import JOB_STATUSES, Job, JobStore
from babellens.store.reports import Report, ReportListing, ReportStore
from babellens.store.results import Histogram, NeuronExample, NeuronRecord, ResultStore

__all__ = [
    "JOB_STATUSES",
    "Database",
    "DatabaseError",
    "Histogram",
    "Job",
    "JobStore",
    "NeuronExample",
    "NeuronRecord",
    "Report",
    "ReportListing",
    "ReportStore",
    "ResultStore",
    "default_db_url",
    "open_database",
]
