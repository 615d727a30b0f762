"""Open a database by URL, migrate it to the current schema, and hand out sessions.

SQLite by default (one file in the user's data folder, WAL mode so readers never block the
scan's writer), PostgreSQL by URL (``postgresql+psycopg://user@host/db``). ``--db URL`` or
``BABELLENS_DB`` choose.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from babellens.errors import BabelLensError

__all__ = ["Database", "DatabaseError", "default_db_url", "open_database"]


class DatabaseError(BabelLensError):
    """The database URL is malformed or the server cannot be reached."""


def data_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    root = (Path(xdg) if xdg else Path.home() / ".local" / "share") / "babellens"
    root.mkdir(parents=True, exist_ok=True)
    return root


def default_db_url() -> str:
    return os.environ.get("BABELLENS_DB") or f"sqlite:///{data_home() / 'babellens.db'}"


def _normalise(url: str) -> str:
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # Takes effect only on a new, empty file (before the first table): job checkpoints are large
    # blobs rewritten many times, and without it the file keeps its largest size as free pages
    # (a 30-layer transcoder training left 1.9 GB of them). See Database.release_free_pages.
    cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def release_free_pages(self) -> None:
        """Give the pages of deleted blobs back to the file system (SQLite; PostgreSQL's
        autovacuum does this itself). A no-op on SQLite files created before auto_vacuum."""
        if self.engine.dialect.name != "sqlite":
            return
        raw = self.engine.raw_connection()
        try:  # the pragma frees one page per step; executescript steps it to the end
            raw.driver_connection.executescript(
                "PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);"
            )
        finally:
            raw.close()


def open_database(url: str | None = None, *, migrate: bool = True) -> Database:
    url = _normalise(url or default_db_url())
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            path = engine.url.database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        else:
            engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (ArgumentError, OperationalError, ImportError, ValueError, OSError) as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:160]
        raise DatabaseError(
            f"cannot open database {url.split('@')[-1]!r} ({detail}); check --db / BABELLENS_DB "
            "(e.g. sqlite:///path/to/file.db or postgresql://user@host/dbname) and that the server is running"
        ) from exc
    if migrate:
        from babellens.store.migrate import upgrade

        upgrade(engine)
    return Database(engine)
