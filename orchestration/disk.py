"""Disk space around a build (issue 19): a check before it starts, a copy of the warehouse to fall back on,
and one plain line when the disk fills anyway.

dbt commits each model on its own, so a build that stops half-way leaves some marts rebuilt and others not.
When the disk fills, DuckDB fails the model that was writing (`Failed to commit: Could not write file
"….duckdb.wal": No space left on device`), dbt skips every model after it and exits, and the marts that
were already rebuilt stay: `fct_daily_usage` and `event_reconciliation` would count events that
`fct_invoices` does not bill, and a close would freeze that. So `usage-billing build`:

1. refuses to start when the device holding the warehouse clearly lacks the room (`check_free_space`):
   a copy of the warehouse file plus a lower bound of what the new events add;
2. copies the warehouse file (and its WAL, if a killed run left one) beside it (`BuildBackup.take`);
3. if the build fails with "No space left on device", puts that copy back (a rename: it needs no free space)
   and says so in one line (`BuildBackup.restore_if_disk_full`); otherwise deletes the copy.

A build killed outright (SIGKILL, power loss) needs none of this: what was committed stays, and the next
build finishes the work (tests/python/test_faults.py). Its leftover copy is deleted before the next build.
"""

from __future__ import annotations

import errno
import os
import shutil
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# What the warehouse grows by, at least, per byte of (uncompressed) event text loaded: the staged rows keep
# each bad line's text and the parsed fields. Measured: 0.48 on the 100M-event benchmark (8.2 GB of
# warehouse for 17 GB of NDJSON), 4.4 on 0.5 MB (where rebuilding the tables dominates). A lower bound, so
# that a build is refused only when it clearly cannot fit.
GROWTH_PER_EVENT_BYTE = 0.25
BACKUP_SUFFIX = ".before-build"
DISK_FULL_SIGNS = ("no space left on device", "[errno 28]", "enospc")


def wal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".wal")


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def free_bytes(db_path: Path) -> int:
    """Free bytes (for an unprivileged writer) on the device holding the warehouse file."""
    folder = db_path.parent
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def size_text(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def text_bytes(path: str | Path) -> int:
    """The bytes of event text a file holds: a gzip file's uncompressed size (its trailer's ISIZE, modulo
    4 GiB, so never less than the compressed size), any other file's size."""
    size = os.path.getsize(path)
    if str(path).lower().endswith(".gz") and size >= 18:
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            (isize,) = struct.unpack("<I", f.read(4))
        return max(size, isize)
    return size


def event_bytes_to_load(db_path: Path, full_refresh: bool) -> tuple[int, int]:
    """(files, text bytes) the build will read: the files not loaded yet, or every file on a full refresh."""
    from orchestration.assets.raw_events import list_event_files, loaded_files

    files = list_event_files()
    if not full_refresh:
        loaded = loaded_files(db_path)
        files = [f for f in files if f not in loaded]
    return len(files), sum(text_bytes(f) for f in files)


def warehouse_bytes(db_path: Path) -> int:
    return sum(p.stat().st_size for p in (db_path, wal_path(db_path)) if p.exists())


@dataclass(frozen=True)
class SpaceNeeded:
    backup: int  # a copy of the warehouse file and its WAL
    growth: int  # a lower bound of what the build adds
    files: int
    event_bytes: int

    @property
    def total(self) -> int:
        return self.backup + self.growth


def space_needed(db_path: Path, *, full_refresh: bool = False) -> SpaceNeeded:
    files, event_bytes = event_bytes_to_load(db_path, full_refresh)
    return SpaceNeeded(
        backup=warehouse_bytes(db_path),
        growth=int(event_bytes * GROWTH_PER_EVENT_BYTE),
        files=files,
        event_bytes=event_bytes,
    )


def remove_stale_backup(db_path: Path) -> None:
    """A copy left by a build that was killed before it could delete it: of no use (the warehouse it was
    killed in is consistent, and the next build completes it), and in the way of the free-space check."""
    for path in (db_path, wal_path(db_path)):
        backup_path(path).unlink(missing_ok=True)


def check_free_space(db_path: Path, *, full_refresh: bool = False) -> str | None:
    """None if the build may start; else the one-line reason it may not (nothing has been touched)."""
    remove_stale_backup(db_path)
    need = space_needed(db_path, full_refresh=full_refresh)
    free = free_bytes(db_path)
    if free >= need.total:
        return None
    return (
        f"build refused: the device holding {db_path} has {size_text(free)} free and this build needs at "
        f"least {size_text(need.total)} ({size_text(need.backup)} for a copy of the warehouse to fall back "
        f"on, {size_text(need.growth)} for {need.files} event file(s) of {size_text(need.event_bytes)}); "
        "free space and run again: nothing was changed"
    )


def disk_full_message(db_path: Path) -> str:
    return (
        f"build failed: no space left on the device holding {db_path} ({size_text(free_bytes(db_path))} "
        "free now); free space and run again: nothing was lost"
    )


def mentions_disk_full(texts: Iterable[str]) -> bool:
    return any(sign in text.lower() for text in texts for sign in DISK_FULL_SIGNS)


def is_disk_full(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


@dataclass
class BuildBackup:
    """A copy of the warehouse file (and its WAL) beside it, taken before a build."""

    db_path: Path
    copied: list[Path]

    @classmethod
    def take(cls, db_path: Path) -> BuildBackup:
        """Copy the warehouse beside itself. Raises OSError (ENOSPC included) with nothing left behind."""
        copied: list[Path] = []
        try:
            for path in (db_path, wal_path(db_path)):
                if path.exists():
                    shutil.copyfile(path, backup_path(path))
                    copied.append(path)
        except OSError:
            remove_stale_backup(db_path)
            raise
        return cls(db_path, copied)

    def discard(self) -> None:
        remove_stale_backup(self.db_path)

    def restore(self) -> None:
        """Put the copy back: the failed build's WAL must go first, else DuckDB would replay it onto the old
        file. Renames only, so this works on a full disk. DuckDB's spill folder (`<warehouse>.tmp`) goes too."""
        wal = wal_path(self.db_path)
        wal.unlink(missing_ok=True)
        if self.db_path in self.copied:
            os.replace(backup_path(self.db_path), self.db_path)
        else:  # there was no warehouse before this build
            self.db_path.unlink(missing_ok=True)
        if wal in self.copied:
            os.replace(backup_path(wal), wal)
        shutil.rmtree(self.db_path.with_name(self.db_path.name + ".tmp"), ignore_errors=True)

    def restore_if_disk_full(self, failure_texts: Iterable[str]) -> str | None:
        """After a failed build: if it failed for want of disk space, restore the warehouse and return the
        line to print last; else keep what the build did (as before) and return None."""
        if not mentions_disk_full(failure_texts):
            self.discard()
            return None
        self.restore()
        return disk_full_message(self.db_path)


def failure_texts(result) -> list[str]:
    """The messages and errors (with their causes) of a failed Dagster run's failure events."""
    texts = []
    for event in result.all_events:
        if event.is_failure:
            texts.append(event.message or "")
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                texts.append(error.to_string())
    return texts
