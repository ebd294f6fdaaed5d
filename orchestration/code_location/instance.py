"""The Dagster instance the `usage-billing` commands run in, and the event log storage that makes it quick.

A build reports every dbt node as an event (about 500 for ~150 nodes: planned materializations and checks,
outputs, materializations, check results). Dagster's default SQLite event log opens a new database engine
and connection for each write, and commits with a disk flush, two or three times per event (the run's
own database, then the cross-run index): measured on the fixed start-up, 3,100 connections and 1,600
flushed commits, several seconds of every command. `KeptConnectionsSqliteEventLogStorage` writes the same
files in the same format, through one connection per database kept open, with SQLite's
`synchronous=NORMAL` (in WAL mode: a commit is not flushed to disk on its own; the database stays
consistent, and only the last commits before a power cut, not a crash of the process, can be lost). The
UI reads the runs exactly as before. docs/scaling.md, "Fixed start-up".

Only the command line uses it, and only when the instance's storage is the default SQLite one: a
DAGSTER_HOME/dagster.yaml of its own (e.g. Postgres storage) is used as it is.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from sqlalchemy import create_engine, event
from sqlalchemy.pool import StaticPool

# Databases whose connection stays open: a run's own and the index (a long-lived reader, such as a
# process that reads many runs, must not keep a file open per run).
KEPT_CONNECTIONS = 4
STORAGE_KEYS = ("storage", "run_storage", "event_log_storage", "schedule_storage")


def _synchronous_normal(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class KeptConnectionsSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's run-sharded SQLite event log, with its connections kept open between writes."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, object] = OrderedDict()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str):
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            # One connection per database, reused by every write; _connect's lock serialises its use.
            poolclass=StaticPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", _synchronous_normal)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > KEPT_CONNECTIONS:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator:
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def _dispose_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # wipe deletes the database files
        super().wipe()

    def upgrade(self) -> None:
        self._dispose_engines()
        super().upgrade()

    def dispose(self) -> None:
        super().dispose()
        self._dispose_engines()


def cli_instance() -> dg.DagsterInstance:
    """The Dagster instance of the CLI's runs: storage in DAGSTER_HOME (default .dagster_home); settings
    from DAGSTER_HOME/dagster.yaml if there is one, else from the repository's dagster.yaml, the file
    `dagster dev` reads in the repository root (docs/operations.md, "Threads and overlapping runs")."""
    import yaml

    from orchestration.warehouse.project import REPO_ROOT

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if (home / "dagster.yaml").exists() or (home / "dagster.yml").exists():
        return dg.DagsterInstance.get()
    settings = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text(encoding="utf-8")) or {}
    overrides = {}
    if not any(key in settings for key in STORAGE_KEYS):  # the default SQLite storage: keep it quick
        overrides["event_log_storage"] = {
            "module": __name__,
            "class": KeptConnectionsSqliteEventLogStorage.__name__,
            "config": {"base_dir": str(home / "history" / "runs")},
        }
    ref = InstanceRef.from_dir(str(home), config_dir=str(REPO_ROOT), overrides=overrides)
    return dg.DagsterInstance.from_ref(ref)
