"""Files: which lines go to which file (``events_<YYYY-MM>_<part>.<ext>``, named by delivery month), and
writing them.  Lines are built in chunks of ``CHUNK_ROWS`` on ``BUILD_THREADS`` threads while a writer
thread compresses/writes, so building the next chunk overlaps the IO of the last one."""

from __future__ import annotations

import gzip
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration.generator.encoding import (
    PARQUET_SCHEMA,
    ChunkContext,
    gather_chunk,
    member_pieces,
    parquet_table,
    subset,
)
from orchestration.generator.faults import malformed_lines
from orchestration.generator.strings import concat, where
from orchestration.generator.traffic import KIND_BLANK, KIND_MALFORMED, year_month

CHUNK_ROWS = 250_000
BUILD_THREADS = 2
GZIP_LEVEL = 1  # fast (~1.3x the size of level 6); gzip header without name and with mtime 0: reproducible
FILE_EXTENSIONS = {"ndjson": "ndjson", "ndjson.gz": "ndjson.gz", "parquet": "parquet"}


class FileLayout(NamedTuple):
    """File ``i`` is named ``names[i]`` and holds lines ``order[bounds[i]:bounds[i + 1]]``."""

    names: list[str]
    order: np.ndarray  # line indexes in delivery order (within a file)
    bounds: np.ndarray


def file_layout(
    delivered_us: np.ndarray,
    delivery_month: np.ndarray,
    in_second_part: np.ndarray,
    first_month: int,
    start_us: int,
    fmt: str,
    files: int | None,
) -> FileLayout:
    """By default part ``001`` holds a month's on-time events and part ``002`` the late arrivals, re-sends
    and conflicting copies delivered in that month (empty files are not written).  With ``files=N`` all
    lines, in delivery order, are cut into N equal files (parts numbered per month).  Either way names sort
    in delivery order and a duplicate always comes after its original."""
    ext = FILE_EXTENSIONS[fmt]
    total = len(delivered_us)
    if files is None:
        fkey = delivery_month.astype(np.int64) * 2 + in_second_part
        order = np.argsort((fkey << 46) | (delivered_us - start_us), kind="stable")
        sorted_keys = fkey[order]
        keys, starts = np.unique(sorted_keys, return_index=True)
        bounds = np.append(starts, total)
        names = [
            f"events_{year_month(first_month + int(key) // 2)}_{int(key) % 2 + 1:03d}.{ext}" for key in keys
        ]
        return FileLayout(names, order, bounds)
    order = np.argsort(delivered_us - start_us, kind="stable")
    bounds = np.unique((np.arange(files + 1, dtype=np.int64) * total) // files)
    names, seen = [], {}
    for i in range(len(bounds) - 1):
        ym = year_month(first_month + int(delivery_month[order[bounds[i]]]))
        seen[ym] = seen.get(ym, 0) + 1
        names.append(f"events_{ym}_{seen[ym]:03d}.{ext}")
    return FileLayout(names, order, bounds)


def remove_earlier_runs(out_dir: Path, fmt: str) -> None:
    """Delete the ``events_<YYYY-MM>_*`` files of this format, so a directory never mixes two runs."""
    for old in sorted(out_dir.glob(f"events_*.{FILE_EXTENSIONS[fmt]}")):
        if old.is_file() and old.name[7:14].replace("-", "").isdigit():
            old.unlink()


def build_chunk(ctx: ChunkContext, rows: np.ndarray, parquet: bool):
    """The lines ``rows`` as a Parquet table, or as the bytes of NDJSON text (blank lines included)."""
    tables = ctx.tables
    chunk = gather_chunk(ctx, rows)
    if parquet:
        return parquet_table(chunk, tables, ctx)
    members = member_pieces(chunk, tables, ctx, account_first=True)
    out = concat(*[p for pieces in members.values() for p in pieces], "}\n", null_as_empty=True)
    malformed = chunk["kind"] == KIND_MALFORMED
    if malformed.any():
        bad = concat(malformed_lines(subset(chunk, malformed), tables, ctx), "\n")
        out = pc.replace_with_mask(out, pa.array(malformed), bad)
    blank = chunk["kind"] == KIND_BLANK
    if blank.any():
        out = where(blank, "\n", out)
    offsets = np.frombuffer(out.buffers()[1], dtype=np.int32, count=len(out) + 1, offset=out.offset * 4)
    return memoryview(out.buffers()[2])[offsets[0] : offsets[-1]]


def write_files(
    paths: list[Path], layout: FileLayout, ctx: ChunkContext, fmt: str, say: Callable[[str], None]
) -> None:
    """Build every file's chunks on the pool and hand them, in order, to the writer thread."""
    parquet = fmt == "parquet"
    order, bounds = layout.order, layout.bounds
    writer = FileWriter()
    pending: deque = deque()
    try:
        with ThreadPoolExecutor(max_workers=BUILD_THREADS, thread_name_prefix="event-chunk") as pool:

            def drain(keep: int) -> None:
                while len(pending) > keep:
                    op, arg = pending.popleft()
                    if op == "put":
                        writer.put(arg.result())
                    elif op == "open":
                        say(f"writing {arg[0].name} ({arg[2]:,} lines)")
                        writer.open(arg[0], arg[1])
                    else:
                        writer.close_file()

            try:
                for fi, path in enumerate(paths):
                    pending.append(("open", (path, fmt, int(bounds[fi + 1] - bounds[fi]))))
                    for a in range(bounds[fi], bounds[fi + 1], CHUNK_ROWS):
                        rows = order[a : min(a + CHUNK_ROWS, bounds[fi + 1])]
                        pending.append(("put", pool.submit(build_chunk, ctx, rows, parquet)))
                        drain(2 * BUILD_THREADS + 2)
                    pending.append(("close", None))
                drain(0)
            except BaseException:
                for op, arg in pending:
                    if op == "put":
                        arg.cancel()
                raise
    finally:
        writer.finish()


class FileWriter:
    """A thread that opens, writes and closes the output files in the order it is told (NDJSON, gzip, Parquet)."""

    def __init__(self) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        handle = raw = None
        while True:
            op, arg = self._q.get()
            try:
                if self._error is not None:
                    continue
                if op == "open":
                    path, fmt = arg
                    if fmt == "parquet":
                        handle = pq.ParquetWriter(path, PARQUET_SCHEMA, compression="snappy")
                    elif fmt == "ndjson.gz":
                        raw = open(path, "wb")  # noqa: SIM115
                        handle = gzip.GzipFile(
                            filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0
                        )
                    else:
                        handle = open(path, "wb")  # noqa: SIM115
                elif op == "put":
                    if isinstance(arg, pa.Table):
                        handle.write_table(arg)
                    else:
                        handle.write(arg)
                elif op == "close":
                    handle.close()
                    if raw is not None:
                        raw.close()
                    handle = raw = None
                elif op == "stop":
                    if handle is not None:
                        handle.close()
                    if raw is not None:
                        raw.close()
                    return
            except BaseException as exc:  # surfaced in the main thread
                self._error = exc
                if op == "stop":
                    return

    def _send(self, op: str, arg=None) -> None:
        if self._error is not None:
            raise self._error
        self._q.put((op, arg))

    def open(self, path: Path, fmt: str) -> None:
        self._send("open", (path, fmt))

    def put(self, chunk) -> None:
        self._send("put", chunk)

    def close_file(self) -> None:
        self._send("close")

    def finish(self) -> None:
        self._q.put(("stop", None))
        self._thread.join()
        if self._error is not None:
            raise self._error
