"""Disk space around a build (issue 19): a check before it starts, and a way back when the disk fills.

dbt commits each model on its own, so a build that stops half-way would leave some marts rebuilt and others
not: `fct_daily_usage` counting events that `fct_invoices` does not bill yet, which a close would freeze. A
build therefore reaches the DuckDB file only at its end (macros/checkpoints.sql): it checkpoints what was
there, then every model is committed to DuckDB's write-ahead log (`<warehouse>.wal`) only, and the log is
copied into the file when every model is built. So the dbt asset (CLI, UI, schedules alike):

1. refuses to start when the device holding the warehouse clearly lacks the room (`check_free_space`: a
   lower bound of what the new events add), before anything is touched;
2. if the build fails with "No space left on device", removes the log and DuckDB's spill folder
   (`undo_build`): the file is then the warehouse as it was before the run, and says so in one line.

A build killed outright (SIGKILL, power loss) keeps its log: DuckDB replays what was committed on the next
open, and the next build finishes the work (tests/python/test_faults.py).
"""

from __future__ import annotations

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
DISK_FULL_SIGNS = ("no space left on device", "[errno 28]", "enospc")


def wal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".wal")


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
    from orchestration.events import intake

    if intake.object_scheme(str(path)):
        return intake.file_size(str(path))  # an object's gzip trailer would cost a request each
    size = os.path.getsize(path)
    if str(path).lower().endswith(".gz") and size >= 18:
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            (isize,) = struct.unpack("<I", f.read(4))
        return max(size, isize)
    return size


def event_bytes_to_load(db_path: Path, full_refresh: bool) -> tuple[int, int]:
    """(files, text bytes) the build will read: the files not loaded yet, or every file on a full refresh."""
    from orchestration.code_location.assets.raw_events import list_event_files, loaded_files

    files = list_event_files()
    if not full_refresh:
        loaded = loaded_files(db_path)
        files = [f for f in files if f not in loaded]
    return len(files), sum(text_bytes(f) for f in files)


@dataclass(frozen=True)
class SpaceNeeded:
    growth: int  # a lower bound of what the build adds
    files: int
    event_bytes: int


def space_needed(db_path: Path, *, full_refresh: bool = False) -> SpaceNeeded:
    files, event_bytes = event_bytes_to_load(db_path, full_refresh)
    return SpaceNeeded(growth=int(event_bytes * GROWTH_PER_EVENT_BYTE), files=files, event_bytes=event_bytes)


def check_free_space(db_path: Path, *, full_refresh: bool = False) -> str | None:
    """None if the build may start; else the one-line reason it may not (nothing has been touched)."""
    need = space_needed(db_path, full_refresh=full_refresh)
    free = free_bytes(db_path)
    if free >= need.growth:
        return None
    return (
        f"build refused: the device holding {db_path} has {size_text(free)} free and this build needs at "
        f"least {size_text(need.growth)} for {need.files} event file(s) of {size_text(need.event_bytes)}; "
        "free space and run again: nothing was changed"
    )


def disk_full_message(db_path: Path, *, changed: bool = True) -> str:
    """The line a build that ran out of space ends with (`changed`: it had started writing, and was undone)."""
    return (
        f"build failed: no space left on the device holding {db_path} ({size_text(free_bytes(db_path))} "
        "free now); free space and run again: "
        + ("the warehouse is as it was before the run" if changed else "nothing was changed")
    )


def disk_line(texts: Iterable[str]) -> str | None:
    """The refusal or full-disk line of a failed build, found in its failure texts (None if neither)."""
    for text in texts:
        for line in text.splitlines():
            for start in ("build refused: the device holding", "build failed: no space left on the device"):
                if start in line:
                    return line[line.index(start) :].strip()
    return None


def mentions_disk_full(texts: Iterable[str]) -> bool:
    return any(sign in text.lower() for text in texts for sign in DISK_FULL_SIGNS)


def checkpoint(db_path: Path) -> None:
    """Copy what earlier commands left in the warehouse's log into its file, so that the log a build writes
    holds that build's changes only. Raises OSError/duckdb errors (a full disk included), touching nothing
    a later open would not replay anyway."""
    import duckdb

    if wal_path(db_path).exists():
        con = duckdb.connect(str(db_path))
        try:
            con.execute("checkpoint")
        finally:
            con.close()


def undo_build(db_path: Path) -> None:
    """After a build failed for want of space, and its processes have exited: drop its log, so that the
    file is the warehouse as it was before the run (the log held the build's changes only), and DuckDB's
    spill folder. Deletions only: this works on a full disk."""
    wal_path(db_path).unlink(missing_ok=True)
    shutil.rmtree(db_path.with_name(db_path.name + ".tmp"), ignore_errors=True)


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
