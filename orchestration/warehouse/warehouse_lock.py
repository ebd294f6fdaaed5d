"""One writer of the warehouse at a time: an OS file lock beside the DuckDB file (`<warehouse>.lock`).

DuckDB lets one process write a database file and refuses every other process while it does, so two
commands that write the warehouse at once (two builds, a build and a close, a UI run and a CLI command)
would make one of them fail half-way. Every writer takes this lock first: the CLI's build, close, push and
export for the whole command, and the dbt asset for its step (so that a run launched from the UI and a CLI
command wait for each other too). The lock is `flock(2)` on `<warehouse>.lock`: the kernel drops it when
its holder exits, even on a crash, so a stale lock file is harmless. While held, the file says who holds it
(command or Dagster run, pid, since when), for the message of whoever waits.

The lock is re-entrant within a process: the CLI holds it around an in-process Dagster run whose dbt
asset takes it again.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

# Exit status of a command that would not wait for a busy warehouse (EX_TEMPFAIL: try again later).
EXIT_BUSY = 75

_guard = threading.Lock()
_depth: dict[tuple[int, str], int] = {}  # (pid, lock file) -> nesting depth in the process holding it


class WarehouseBusy(Exception):
    """The warehouse is being written by someone else and the caller chose not to wait."""

    def __init__(self, lock_file: Path, holder: str):
        super().__init__(f"{lock_file} is held by {holder}")
        self.lock_file = lock_file
        self.holder = holder


def lock_path(db_path: Path) -> Path:
    """The lock file of a warehouse: beside it, named after it."""
    return db_path.with_name(db_path.name + ".lock")


def holder_of(db_path: Path) -> str | None:
    """Who holds the warehouse's lock, as its holder wrote it, or None when the file says nobody.

    Only a hint for messages: it takes no lock, so the holder may have finished meanwhile."""
    try:
        text = lock_path(db_path).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


@contextmanager
def warehouse_lock(
    db_path: Path,
    holder: str,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the warehouse's write lock for the duration of the block.

    `holder` says who is writing (e.g. "usage-billing build (pid 123)"). When someone else holds the lock,
    `on_wait(their holder text)` is called once and the call blocks until the lock is free; with
    `wait=False` it raises WarehouseBusy instead."""
    path = lock_path(Path(db_path).resolve())
    key = (os.getpid(), str(path))
    with _guard:
        nested = key in _depth
        if nested:
            _depth[key] += 1
    if nested:
        try:
            yield
        finally:
            with _guard:
                if key in _depth:
                    _depth[key] -= 1
        return

    path.parent.mkdir(parents=True, exist_ok=True)
    # Python opens files close-on-exec: dbt and other children never inherit (and so never keep) the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            if not wait:
                raise WarehouseBusy(path, other) from None
            if on_wait is not None:
                on_wait(other)
            fcntl.flock(fd, fcntl.LOCK_EX)
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder} since {since}\n".encode(), 0)
        with _guard:
            _depth[key] = 1
        try:
            yield
        finally:
            with _guard:
                del _depth[key]
            os.ftruncate(fd, 0)  # nobody holds it: the next waiter's message must not name us
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


@contextmanager
def step_lock(context) -> Iterator[None]:
    """The warehouse lock for a Dagster step that reads or writes the warehouse (dbt build, close, push,
    export): a run launched from the UI waits here for a CLI command, and the other way round; the run
    log says whom it waits for. Under the CLI, which holds the lock already, this is a no-op."""
    from orchestration.warehouse.project import duckdb_path

    db_path = duckdb_path()
    holder = f"Dagster run {context.run.run_id[:8]} ({context.run.job_name}, pid {os.getpid()})"

    def waiting(other: str) -> None:
        context.log.info(f"Waiting for the warehouse {db_path}, held by {other}")

    with warehouse_lock(db_path, holder, on_wait=waiting):
        yield
