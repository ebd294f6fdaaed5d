"""Staging's fast path (macros/staging_fast_path.sql) gives the rows of the full path, to the last column.

Staging reads most lines through one typed parse and a plain-shape check, and only the other lines
through the per-key type analysis. This test stages the same files both ways (the var
`staging_fast_path: false` sends every line through the full path) and requires the two tables to be
equal row for row and column for column (`except all` both ways), loaded_at aside. The files hold
generated events (every malformed kind, aliases, blank lines, re-sends), every line kind of
test_hostile_input.py, and lines at the edges of the plain shape, in NDJSON, gzip NDJSON and Parquet
read as lines.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path

import duckdb

from tests.python.conftest import REPO_ROOT, SEEDS
from tests.python.test_hostile_input import LINE_KINDS, _lines_file

STAGING = "stg_raw_events__usage_events"
TS = "2026-01-05T10:00:00Z"


def _line(**fields: str | None) -> bytes:
    """A line with the given fields as raw JSON text (None leaves a field out), others valid."""
    base: dict[str, str | None] = {"event_id": None, "account_id": '"acct_0009"', "timestamp": f'"{TS}"'}
    base.update(fields)
    return ("{" + ",".join(f'"{k}":{v}' for k, v in base.items() if v is not None) + "}").encode()


# Values whose text alone does not tell their JSON type, and values just inside or outside the plain shape.
EDGE_LINES: list[bytes] = [
    _line(),
    _line(event_id='"e-1"', units="1", status_code="200", endpoint='"/v1/a?q=1"', meter='"tokens"'),
    *(_line(meter=m) for m in ["nan", "inf", "infinity", "-Infinity", "NaN", "true", "false", "7", '"7"']),
    *(_line(meter=m) for m in ['"nan"', '"true"', '""', '"Tokens"', '"api-calls"', "null", '"a\\u0062"']),
    *(_line(account_id=a) for a in ["123", "1.50", "1e3", "nan", "true", '"{x"', '"[x"', '"true"', '""', "null"]),
    *(_line(account_id=a) for a in ['"a\\"b"', '"\\u0041"', '" acct"', "[1]", '{"id":1}', "-0", "inf"]),
    _line(account_id="null", customer_id='"acct_c"'),
    _line(account_id=None, user_id="42"),
    _line(account_id='"acct_a"', customer_id="true"),
    *(_line(event_id=e) for e in ["12", "1.0", '""', "true", '"[x"', '"{x"', "nan", '"e\\u0041"', "[]"]),
    *(_line(units=u) for u in ['"1"', "1", "1.0", "1.50", '"0.125"', "1e3", '"1e3"', "0", "-0", '"-1"']),
    *(_line(units=u) for u in ["999999999999999.999999999", "1000000000000000", '"999999999999999"']),
    *(_line(units=u) for u in ["1.0000000001", '" 5"', '"5 "', "null", '"."', '".5"', '"5."', "1E2"]),
    _line(units=None, quantity="3"),
    _line(units="null", quantity='"2.5"'),
    *(_line(status_code=s) for s in ['"200"', "200", "200.0", '"099"', "099", "600", '" 200"', "100", '"599"']),
    *(_line(status_code=s) for s in ["99", "1e2", "true", '"2e2"', "null", '"abc"']),
    *(_line(endpoint=e) for e in ['""', '"/v1/x?y=1"', "5", '"a"', '"?q"', '"/v1/\\u00e9"', "null", "[]"]),
    _line(endpoint=None, metadata='{"endpoint":"/m?x=1","status":"503"}'),
    _line(metadata='{"status":201.0}'),
    _line(metadata="null"),
    _line(metadata='"text"'),
    _line(metadata="{}"),
    *(_line(timestamp=t) for t in ['"2026-01-05 10:00:00"', '"2026-01-05T10:00:00.123456789+05:30"']),
    *(_line(timestamp=t) for t in ['"2026-01-05T10:00:00-0800"', '"2026-01-05T10:00:00+14"', '"2026-01-05"']),
    *(_line(timestamp=t) for t in ['"2026-01-05T10:00"', '"2026-01-05T10:00:00 UTC"', "1767607200", '"x"']),
    *(_line(timestamp=t) for t in ['"2026-01-05T10:00:00\\u005A"', '"2026-13-05T10:00:00Z"', "null", "{}"]),
    *(_line(properties=p) for p in ['{"a":1.50,"b":"x\\u0041"}', "[1, 2]", '"p"', "1e3", "null", '{"k":nan}']),
    b'{"account_id":"a","account_id":"b","timestamp":"2026-01-05T10:00:00Z"}',
    b'{ "account_id" : "acct_0009" , "timestamp" : "2026-01-05T10:00:00Z" }',
    b'{"Account_ID":"acct_0009","timestamp":"2026-01-05T10:00:00Z"}',
    b'{"account_id":"acct_0009","timestamp":"2026-01-05T10:00:00Z"}{"x":1}',
    b'{"account_id":"acct_0009","timestamp":"2026-01-05T10:00:00Z"} ',
    b"\t" + _line(),
    b"[]",
    b"{}",
]


def _write_events(events_dir: Path) -> None:
    from orchestration.events.generator import generate_events

    generate_events(
        events_dir,
        events=4000,
        accounts=40,
        months=2,
        seed=7,
        catalog_dir=SEEDS,
        malformed_rate=0.05,
        alias_rate=0.3,
        blank_line_rate=0.01,
    )
    for kind, (line, _) in LINE_KINDS.items():
        (events_dir / f"line_{kind}.ndjson").write_bytes(_lines_file(kind, line))
    edges = b"\n".join(EDGE_LINES) + b"\n\n  \n"
    (events_dir / "edges.ndjson").write_bytes(edges)
    (events_dir / "edges.ndjson.gz").write_bytes(gzip.compress(edges.replace(b"\n", b"\r\n")))


def _stage(tmp_path: Path, events_dir: Path, name: str, fast: bool) -> tuple[Path, str]:
    from orchestration.resources import dbt_executable

    db = tmp_path / f"{name}.duckdb"
    env = dict(
        os.environ,
        USAGE_BILLING_EVENTS=str(events_dir) + "/*",
        USAGE_BILLING_DUCKDB=str(db),
        USAGE_BILLING_CATALOG=str(SEEDS),
    )
    target = tmp_path / f"target_{name}"
    run = subprocess.run(
        [
            dbt_executable(),
            "run",
            "--select",
            "+" + STAGING,
            "--profiles-dir",
            str(REPO_ROOT),
            "--target-path",
            str(target),
            "--vars",
            json.dumps({"staging_fast_path": fast}),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    compiled = next(target.glob(f"run/**/{STAGING}.sql")).read_text()
    return db, compiled


def test_fast_path_stages_every_line_as_the_full_path(tmp_path: Path) -> None:
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    _write_events(events_dir)

    fast_db, fast_sql = _stage(tmp_path, events_dir, "fast", fast=True)
    full_db, full_sql = _stage(tmp_path, events_dir, "full", fast=False)
    assert "plain_events" in fast_sql
    assert "plain_events" not in full_sql

    con = duckdb.connect()
    try:
        con.execute(f"attach '{fast_db}' as fast (read_only)")
        con.execute(f"attach '{full_db}' as full_path (read_only)")
        columns = [
            c for (c, *_) in con.execute(f"describe fast.staging.{STAGING}").fetchall() if c != "loaded_at"
        ]
        assert columns == [
            c for (c, *_) in con.execute(f"describe full_path.staging.{STAGING}").fetchall() if c != "loaded_at"
        ]
        select = "select " + ", ".join(columns) + " from {}.staging." + STAGING
        only_fast = con.execute(f"{select.format('fast')} except all {select.format('full_path')}").fetchall()
        only_full = con.execute(f"{select.format('full_path')} except all {select.format('fast')}").fetchall()
        assert only_fast == [] and only_full == []

        rows, valid, reasons, edge_rows = con.execute(
            f"""
            select
                count(*),
                count(*) filter (where is_valid),
                count(distinct invalid_reason),
                count(*) filter (where source_file like '%edges.ndjson%')
            from fast.staging.{STAGING}
            """
        ).fetchone()
    finally:
        con.close()
    # Every edge line of both edge files is a row; the generated files add thousands of valid events, and
    # the quarantine reasons cover the contract's list.
    assert edge_rows == 2 * len(EDGE_LINES)
    assert valid > 4000
    assert rows > valid
    assert reasons >= 15
