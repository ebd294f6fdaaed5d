"""Parquet files with plain column types are staged from their typed columns, without writing and parsing
each row as JSON text. This test stages the same bad and unusual Parquet rows through both paths (the
`parquet_as_lines` var forces the JSON line path) and requires identical staging rows, quarantine reasons
included. A file with a float status column must take the line path in both builds."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from tests.python.conftest import stage_events

STAGING = "stg_raw_events__usage_events"
T = "2026-01-05T12:00:00Z"


def _rows() -> list[dict]:
    """One row per rule or oddity; every column is a string except status_code (int32)."""
    base = {
        "event_id": None,
        "customer_id": "acct_payg",
        "meter": "api_calls",
        "units": "1",
        "timestamp": T,
        "endpoint": "/v1/a",
        "status_code": 200,
        "properties": None,
        "metadata": None,
    }
    cases: list[dict] = [
        {"event_id": "e1"},
        {},  # no id: derived from the normalised fields
        {"event_id": ""},  # empty id counts as none
        {"event_id": 'q"uote\\back é\u2028'},
        {"event_id": "e5", "customer_id": None},  # missing_account
        {"event_id": "e6", "customer_id": ""},  # missing_account
        {"event_id": "e7", "units": "abc"},  # invalid_units
        {"event_id": "e8", "units": "-5"},  # a signed string is not a number
        {"event_id": "e9", "units": "1.0000000001"},  # units_too_precise
        {"event_id": "e10", "units": " 7 "},  # trimmed
        {"event_id": "e11", "units": None},  # absent: 1
        {"event_id": "e12", "units": "2e3"},
        {"event_id": "e13", "timestamp": "x"},  # invalid_timestamp
        {"event_id": "e14", "timestamp": None},  # missing_timestamp
        {"event_id": "e15", "timestamp": "2026-01-05T23:30:00+02:00"},
        {"event_id": "e16", "status_code": None},  # absent: 200
        {"event_id": "e17", "status_code": 99},  # invalid_status
        {"event_id": "e18", "status_code": 404},
        {
            "event_id": "e19",
            "endpoint": None,
            "status_code": None,
            "metadata": '{"endpoint": "/m?x=1", "status": "503"}',
        },  # both from metadata
        {"event_id": "e20", "status_code": None, "metadata": '{"status": 201.0}'},
        {"event_id": "e21", "endpoint": None, "metadata": '{"endpoint": 5}'},  # invalid_endpoint
        {"event_id": "e22", "metadata": "{bad"},  # not JSON: no metadata
        {"event_id": "e23", "properties": '{"a": 1.50, "u": "x\\u0041"}'},
        {"event_id": "e24", "properties": "null"},
        {"event_id": "e25", "properties": "[1, 2]"},
        {"event_id": "e26", "properties": "not json"},
        {"event_id": "e27", "meter": None},  # api_calls
        {"event_id": "e28", "meter": ""},  # api_calls
        {"event_id": "e29", "endpoint": "/v1/a?b=1"},
        {"event_id": "e30", "endpoint": 'with "quote" and \\ backslash'},
        {"event_id": "e31", "units": "0.5", "meter": "tokens"},
        {"event_id": "e1", "units": "2"},  # a conflicting copy of e1
    ]
    return [dict(base, **case) for case in cases]


def _write_events(events_dir: Path) -> None:
    rows = _rows()
    schema = pa.schema([(name, pa.int32() if name == "status_code" else pa.string()) for name in rows[0]])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), events_dir / "typed.parquet")
    # A string status column is typed too; its texts are validated like JSON strings.
    strings = [
        dict(rows[0], event_id=f"s{i}", status_code=s)
        for i, s in enumerate(["404", " 200", "2e2", "abc", "200.0", None])
    ]
    schema = pa.schema([(name, pa.string()) for name in strings[0]])
    pq.write_table(pa.Table.from_pylist(strings, schema=schema), events_dir / "string_status.parquet")
    # A float status column is not a plain type: this file takes the line path in both builds.
    floats = [dict(rows[0], event_id=f"f{i}", status_code=s) for i, s in enumerate([200.0, 404.5, None])]
    schema = pa.schema([(name, pa.float64() if name == "status_code" else pa.string()) for name in floats[0]])
    pq.write_table(pa.Table.from_pylist(floats, schema=schema), events_dir / "float_status.parquet")


def _stage(tmp_path: Path, events_dir: Path, name: str, as_lines: bool) -> tuple[list[tuple], str]:
    db, log = stage_events(tmp_path, events_dir, name, {"parquet_as_lines": as_lines})
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = [c for (c, *_) in con.execute(f"describe staging.{STAGING}").fetchall() if c != "loaded_at"]
        rows = con.execute(
            f"select {', '.join(columns)} from staging.{STAGING} order by source_file, line_number"
        ).fetchall()
    finally:
        con.close()
    return rows, log


def test_typed_parquet_rows_stage_like_json_lines(tmp_path: Path) -> None:
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    _write_events(events_dir)

    typed, typed_log = _stage(tmp_path, events_dir, "typed", as_lines=False)
    lines, lines_log = _stage(tmp_path, events_dir, "lines", as_lines=True)

    assert "3 new event file(s), 2 read as typed Parquet rows" in typed_log
    assert "3 new event file(s), 0 read as typed Parquet rows" in lines_log
    assert len(typed) == 32 + 6 + 3
    assert typed == lines

    # The rules still apply on the typed path (reasons written out from the rows above).
    by_key = {(Path(r[0]).name, r[1]): r for r in typed}
    # columns: source_file, line_number, event_id, is_valid, invalid_reason, ...
    reason = {key: row[4] for key, row in by_key.items()}
    assert [reason[("typed.parquet", n)] for n in (5, 6, 7, 8, 9, 13, 14, 17, 21)] == [
        "missing_account",
        "missing_account",
        "invalid_units",
        "invalid_units",
        "units_too_precise",
        "invalid_timestamp",
        "missing_timestamp",
        "invalid_status",
        "invalid_endpoint",
    ]
    assert [reason[("string_status.parquet", n)] for n in range(1, 7)] == [
        None,
        None,
        None,
        "invalid_status",
        None,
        None,
    ]
    assert all(reason[("typed.parquet", n)] is None for n in (1, 2, 3, 4, 10, 11, 12, 15, 16, 18, 19, 20, 22))
