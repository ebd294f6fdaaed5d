"""The realistic increment of the history curve (issue 18): a fixed number of events as one new NDJSON
file, as an hourly refresh finds it.

Built from a sample of the history's own lines, so accounts, meters, endpoints, units, statuses, aliases
and timestamp styles follow the generator's mix; deterministic for a given seed and history:

- new traffic (the rest): a sampled line with a new event id (id-less lines stay id-less) and a timestamp
  in the hour after the history's end, each instant distinct;
- late events (``late_rate``): the same, timestamped days back: half in the last days of the history
  (open periods), half in the history's first month (the periods the benchmark closes, P14);
- re-sends (``resend_rate``): byte-identical copies of history lines (E2 duplicates);
- replacing re-sends (``replace_rate``): a history line with an event id re-sent with a timestamp
  1 s .. 2 h earlier, so it replaces the kept copy (E2: the earliest timestamp wins).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path

import numpy as np

US_PER_S = 1_000_000
TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}(?::?\d{2})?)?$")


def _utc(text: str) -> dt.datetime | None:
    """A generator timestamp (any of its ISO-8601 styles) as an aware UTC datetime, else None."""
    match = TIMESTAMP.match(text) if isinstance(text, str) else None
    if not match:
        return None
    day, clock, fraction, offset = match.groups()
    try:
        moment = dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    moment += dt.timedelta(microseconds=int(((fraction or ".")[1:] + "000000")[:6]))
    if offset and offset != "Z":
        digits = offset[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
        moment -= dt.timedelta(minutes=minutes if offset[0] == "+" else -minutes)
    return moment


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sample_lines(files: list[Path], count: int, rng: np.random.Generator) -> list[str]:
    """About `count` history lines that are JSON objects with a timestamp, from random places.
    NDJSON: a random offset per line, weighted by file size; gzip: the first lines of each file;
    Parquet: rows of random row groups, written back as NDJSON."""
    plain = [f for f in files if f.suffix in (".ndjson", ".jsonl")]
    lines: list[str] = []
    if plain:
        sizes = np.array([f.stat().st_size for f in plain], dtype=np.float64)
        picks = rng.choice(len(plain), size=count * 2, p=sizes / sizes.sum())
        for index in np.unique(picks):
            with plain[index].open("rb") as handle:
                for offset in np.sort(rng.integers(0, int(sizes[index]), int((picks == index).sum()))):
                    handle.seek(int(offset))
                    handle.readline()  # the rest of the line the offset fell in
                    lines.append(handle.readline().decode("utf-8", "replace").rstrip("\n"))
    for path in (f for f in files if f.name.endswith(".gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            for _, line in zip(range(count * 2 // len(files) + 1), handle, strict=False):
                lines.append(line.rstrip("\n"))
    parquet = [f for f in files if f.suffix == ".parquet"]
    if parquet:
        import pyarrow.parquet as pq

        for index in rng.choice(len(parquet), size=min(len(parquet), 8), replace=False):
            table = pq.ParquetFile(parquet[index]).read_row_group(0).to_pylist()
            for row in table[: count * 2 // min(len(parquet), 8) + 1]:
                record = {k: v for k, v in row.items() if v is not None}
                if "properties" in record:
                    record["properties"] = json.loads(record["properties"])
                lines.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
    usable = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and _utc(record.get("timestamp")) is not None:
            usable.append(line)
    rng.shuffle(usable)
    return usable


def write_increment(
    history_files: list[Path],
    target: Path,
    *,
    events: int,
    history_start: dt.date,
    history_end: dt.date,
    seed: int,
    late_rate: float = 0.01,
    resend_rate: float = 0.01,
    replace_rate: float = 0.002,
) -> dict:
    """Write `events` lines to `target` (see the module docstring); return the counts of each kind."""
    rng = np.random.default_rng(seed)
    n_late, n_resend, n_replace = (round(events * r) for r in (late_rate, resend_rate, replace_rate))
    n_new = events - n_late - n_resend - n_replace
    sample = _sample_lines(sorted(history_files), events + n_resend + n_replace, rng)
    if not sample:
        raise SystemExit(f"no usable history line to build the increment from ({len(history_files)} files)")
    with_id = [line for line in sample if json.loads(line).get("event_id")]
    end = dt.datetime.combine(history_end, dt.time(), tzinfo=dt.UTC)
    start = dt.datetime.combine(history_start, dt.time(), tzinfo=dt.UTC)

    # New and late events: distinct instants (an id-less event's id derives from its content).
    slot = 3600 * US_PER_S // max(n_new, 1)
    hour = np.arange(n_new) * slot + rng.integers(0, slot, n_new)
    recent = end - dt.timedelta(days=7)
    late_back = [
        recent + dt.timedelta(microseconds=int(us))
        for us in rng.integers(0, 7 * 86_400 * US_PER_S, n_late - n_late // 2)
    ] + [
        start + dt.timedelta(microseconds=int(us))
        for us in rng.integers(0, 28 * 86_400 * US_PER_S, n_late // 2)
    ]
    moments = [end + dt.timedelta(microseconds=int(us)) for us in hour] + late_back
    ids = rng.integers(0, 2**63, len(moments))
    out = []
    for i, moment in enumerate(moments):
        record = json.loads(sample[i % len(sample)])
        if record.get("event_id"):
            record["event_id"] = f"evt_inc{seed:x}_{ids[i]:016x}"
        record["timestamp"] = _iso(moment)
        out.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
    out += [sample[int(i)] for i in rng.integers(0, len(sample), n_resend)]
    for i in rng.integers(0, len(with_id), n_replace):
        record = json.loads(with_id[int(i)])
        earlier = _utc(record["timestamp"]) - dt.timedelta(seconds=int(rng.integers(1, 7200)))
        record["timestamp"] = _iso(earlier)
        out.append(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(out) + "\n", encoding="utf-8")
    return {"new": n_new, "late": n_late, "resend": n_resend, "replacing_resend": n_replace}
