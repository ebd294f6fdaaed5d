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
from pathlib import Path

import duckdb

from tests.python.conftest import SEEDS, stage_events
from tests.python.test_hostile_input import LINE_KINDS, _lines_file

STAGING = "stg_raw_events__usage_events"
TS = "2026-01-05T10:00:00Z"


def _line(**fields: str | None) -> bytes:
    """A line with the given fields as raw JSON text (None leaves a field out), others valid."""
    base: dict[str, str | None] = {"event_id": None, "account_id": '"acct_0009"', "timestamp": f'"{TS}"'}
    base.update(fields)
    return ("{" + ",".join(f'"{k}":{v}' for k, v in base.items() if v is not None) + "}").encode()


# Values whose text alone does not tell their JSON type, and values just inside or outside the plain
# shape: one line per value (raw JSON text) of one field, the other fields valid.
EDGE_VALUES: dict[str, list[str]] = {
    "meter": ["nan", "inf", "infinity", "-Infinity", "NaN", "true", "false", "7", '"7"', '"nan"', '"true"']
    + ['""', '"Tokens"', '"api-calls"', "null", '"a\\u0062"'],
    "account_id": ["123", "1.50", "1e3", "nan", "NAN", "true", '"{x"', '"[x"', '"true"', '""', "null"]
    + ['"a\\"b"', '"\\u0041"', '" acct"', "[1]", '{"id":1}', "-0", "inf", '"nan"'],
    "event_id": ["12", "1.0", '""', "true", '"[x"', '"{x"', "nan", '"e\\u0041"', "[]", '"nan"'],
    "units": ['"1"', "1", "1.0", "1.50", '"0.125"', "1e3", '"1e3"', "0", "-0", '"-1"', "1E2", "null"]
    + ["999999999999999.999999999", "1000000000000000", '"999999999999999"', "1.0000000001"]
    + ['" 5"', '"5 "', '"."', '".5"', '"5."'],
    "status_code": ['"200"', "200", "200.0", '"099"', "099", "600", '" 200"', "100", '"599"', "99"]
    + ["1e2", "true", '"2e2"', "null", '"abc"'],
    "endpoint": ['""', '"/v1/x?y=1"', "5", '"a"', '"?q"', '"/v1/\\u00e9"', "null", "[]"],
    "metadata": ['{"endpoint":"/m?x=1","status":"503"}', '{"status":201.0}', "null", '"text"', "{}"],
    "timestamp": ['"2026-01-05 10:00:00"', '"2026-01-05T10:00:00.123456789+05:30"', '"2026-01-05"']
    + ['"2026-01-05T10:00:00-0800"', '"2026-01-05T10:00:00+14"', '"2026-01-05T10:00"', "1767607200"]
    + ['"2026-01-05T10:00:00 UTC"', '"x"', '"2026-01-05T10:00:00\\u005A"', '"2026-13-05T10:00:00Z"']
    + ["null", "{}"],
    "properties": ['{"a":1.50,"b":"x\\u0041"}', "[1, 2]", '"p"', "1e3", "null", '{"k":nan}'],
}
EDGE_LINES: list[bytes] = [
    *(_line(**{field: value}) for field, values in EDGE_VALUES.items() for value in values),
    _line(event_id='"e-1"', units="1", status_code="200", endpoint='"/v1/a?q=1"', meter='"tokens"'),
    _line(account_id="null", customer_id='"acct_c"'),
    _line(account_id=None, user_id="42"),
    _line(account_id='"acct_a"', customer_id="true"),
    _line(units=None, quantity="3"),
    _line(units="null", quantity='"2.5"'),
    _line(endpoint=None, metadata='{"endpoint":"/m"}'),
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
    from orchestration.generator import generate_events

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


def test_fast_path_stages_every_line_as_the_full_path(tmp_path: Path) -> None:
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    _write_events(events_dir)

    fast_db, fast_log = stage_events(tmp_path, events_dir, "fast", {"staging_fast_path": True})
    full_db, full_log = stage_events(tmp_path, events_dir, "full", {"staging_fast_path": False})
    assert "plain lines on the fast path" in fast_log
    assert "plain lines on the fast path" not in full_log

    con = duckdb.connect()
    try:
        con.execute(f"attach '{fast_db}' as fast (read_only)")
        con.execute(f"attach '{full_db}' as full_path (read_only)")
        columns = [
            c for (c, *_) in con.execute(f"describe fast.staging.{STAGING}").fetchall() if c != "loaded_at"
        ]
        assert columns == [
            c
            for (c, *_) in con.execute(f"describe full_path.staging.{STAGING}").fetchall()
            if c != "loaded_at"
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
