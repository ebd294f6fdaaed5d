"""The raw-events sensor on a real folder: one run per new batch, keyed so a file never triggers twice;
a loaded file that vanishes, shrinks or grows fails the evaluation with its name, and starts nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest


def _evaluate(cursor: str | None) -> dg.SensorResult:
    from orchestration.code_location.sensors import raw_events_sensor

    return raw_events_sensor(dg.build_sensor_context(cursor=cursor))


def test_sensor_batches_new_files_and_alerts_on_changed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.code_location.sensors import EventFilesChanged

    events = tmp_path / "events"
    (events / "2026" / "01").mkdir(parents=True)
    monkeypatch.setenv("USAGE_BILLING_EVENTS", str(events) + "/**/*")
    monkeypatch.setenv("USAGE_BILLING_DUCKDB", str(tmp_path / "none.duckdb"))  # no warehouse yet
    a = events / "2026" / "01" / "a.ndjson"
    b = events / "b.ndjson.gz"
    a.write_text('{"account_id":"acct_0001","timestamp":"2026-01-02T00:00:00Z"}\n')
    # 62 and 60 bytes: the sizes the alerts below name.
    b.write_bytes(b"\x1f\x8b not really gzip, the sensor only looks at names and sizes")
    (events / "notes.txt").write_text("not an event file: ignored\n")

    # Two new files: one run request for the batch; the cursor holds both with their sizes.
    first = _evaluate(None)
    assert len(first.run_requests) == 1
    key = first.run_requests[0].run_key
    assert first.run_requests[0].tags["usage_billing/new_files"] == "2"
    assert json.loads(first.cursor) == {str(a): a.stat().st_size, str(b): b.stat().st_size}

    # Nothing new: no run; the same batch evaluated again from the old cursor gets the same run key, which
    # Dagster drops for a sensor that already used it.
    again = _evaluate(first.cursor)
    assert again.run_requests == [] and "no new event files" in again.skip_reason.skip_message
    assert _evaluate(None).run_requests[0].run_key == key

    # A third file: a second run, for that file only, with another key.
    c = events / "c.parquet"
    c.write_bytes(b"PAR1")
    second = _evaluate(first.cursor)
    assert len(second.run_requests) == 1 and second.run_requests[0].run_key != key
    assert second.run_requests[0].tags["usage_billing/new_files"] == "1"
    cursor = second.cursor

    # A loaded file shrinks: the evaluation fails with its name; no run is requested.
    a.write_text("{}\n")
    with pytest.raises(EventFilesChanged, match=r"a\.ndjson shrank after it was loaded: 62 → 3 bytes"):
        _evaluate(cursor)
    # Restored as it was: quiet again.
    a.write_text('{"account_id":"acct_0001","timestamp":"2026-01-02T00:00:00Z"}\n')
    assert _evaluate(cursor).run_requests == []
    # Lines appended to a loaded file would never be read: also an alert.
    with a.open("a") as f:
        f.write('{"account_id":"acct_0001","timestamp":"2026-01-03T00:00:00Z"}\n')
    with pytest.raises(EventFilesChanged, match=r"a\.ndjson grew after it was loaded"):
        _evaluate(cursor)
    a.write_text('{"account_id":"acct_0001","timestamp":"2026-01-02T00:00:00Z"}\n')
    # A loaded file vanishes (even while a new one arrives): the evaluation fails, nothing is built.
    os.remove(b)
    (events / "d.ndjson").write_text("{}\n")
    with pytest.raises(EventFilesChanged, match=r"b\.ndjson\.gz vanished after it was loaded \(60 bytes\)"):
        _evaluate(cursor)


def test_sensor_starts_a_build_for_new_gateway_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Logs of the catalog's gateway sources (event_sources.csv, docs/gateway_logs.md) count as new files,
    under the name staging gives them (<file>#<source_id>), whatever their suffix."""
    events = tmp_path / "events"
    logs = tmp_path / "logs"
    events.mkdir()
    logs.mkdir()
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    header = (Path(__file__).resolve().parents[2] / "seeds" / "event_sources.csv").read_text()
    (catalog / "event_sources.csv").write_text(
        header + f"nginx_calls,{logs}/*.log,ndjson,api_calls,request_id,acct,,msec,epoch_seconds,,,,,\n"
    )
    monkeypatch.setenv("USAGE_BILLING_EVENTS", str(events) + "/*")
    monkeypatch.setenv("USAGE_BILLING_CATALOG", str(catalog))
    monkeypatch.setenv("USAGE_BILLING_DUCKDB", str(tmp_path / "none.duckdb"))
    log = logs / "access.log"
    log.write_text('{"request_id":"r1","acct":"acct_0001","msec":"1796637660.123"}\n')

    first = _evaluate(None)
    assert len(first.run_requests) == 1
    assert json.loads(first.cursor) == {f"{log}#nginx_calls": log.stat().st_size}
    assert _evaluate(first.cursor).run_requests == []
