"""Hostile input (issue 19): no line and no file stops billing, and every raw row is accounted for.

Each line kind sits in a file of its own between two valid events; each file kind is a file of its own.
One build reads them all. Then, per file: the conservation law (rows read = valid + duplicates +
quarantined), the expected reason for the bad line, the valid events found under their event_id among
the kept events, and damaged files rejected whole (nothing loaded) with their reason.
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TS = "2026-01-05T10:00:00Z"


def _event(eid: str, **extra) -> bytes:
    fields = {"event_id": eid, "account_id": "acct_0001", "timestamp": TS, "units": 1, **extra}
    return json.dumps(fields).encode()


def _with(**fields) -> bytes:
    """A line with the given fields (values are raw JSON text), others valid."""
    base = {"event_id": '"hostile"', "account_id": '"acct_0009"', "timestamp": f'"{TS}"', "units": "1"}
    base.update(fields)
    return ("{" + ",".join(f'"{k}":{v}' for k, v in base.items() if v is not None) + "}").encode()


# Line kind → (the line's bytes, the expected reason; "valid" = accepted; "blank" = not a row).
LINE_KINDS: dict[str, tuple[bytes, str]] = {
    # Encodings and bytes DuckDB's CSV reader cannot take.
    "invalid_utf8_ff": (b'{"account_id":"\xff\xfe","timestamp":"x"}', "invalid_utf8"),
    "utf8_overlong": (b'{"account_id":"\xc0\xaf"}', "invalid_utf8"),
    "utf8_surrogate_bytes": (b'{"account_id":"\xed\xa0\x80"}', "invalid_utf8"),
    "utf8_truncated_sequence": (b'{"account_id":"\xe2\x82"}', "invalid_utf8"),
    "latin1_text": ('{"account_id":"caf\u00e9"}'.encode("latin-1"), "invalid_utf8"),
    "lone_cr_between_tokens": (
        b'{"account_id":"acct_0009",\r"timestamp":"2026-01-05T10:00:00Z"}',
        "stray_carriage_return",
    ),
    "lone_cr_in_string": (b'{"account_id":"ac\rct"}', "stray_carriage_return"),
    "cr_cr_lf": (b'{"account_id":"acct_0009"}\r\r', "stray_carriage_return"),
    "mixed_line_endings": (_with() + b"\r", "valid"),
    "line_3mb": (b'{"account_id":"' + b"a" * 3_000_000 + b'"}', "line_too_long"),
    "valid_event_over_1mib": (_with(properties='{"pad":"' + "p" * 1_100_000 + '"}'), "line_too_long"),
    # Control characters.
    "nul_byte": (b'{"account_id":"a\x00b"}', "control_character"),
    "soh_in_string": (b'{"account_id":"a\x01b"}', "control_character"),
    "escape_char": (b'{"account_id":"\x1b[31m"}', "control_character"),
    "form_feed": (b'{"account_id":"a"}\x0c', "control_character"),
    "vertical_tab": (b'{\x0b"account_id":"a"}', "control_character"),
    "raw_tab_in_string": (b'{"account_id":"a\tb","timestamp":"2026-01-05T10:00:00Z"}', "not_json"),
    "del_char_in_properties": (_with(properties='{"k":"\x7f"}'), "valid"),
    "escaped_nul": (_with(account_id='"acct\\u0000x"'), "valid"),
    "bom_mid_file": (b"\xef\xbb\xbf" + _with(), "not_json"),
    # Not JSON objects.
    "plain_text": (b"hello world", "not_json"),
    "truncated_json": (b'{"account_id":"acct_0009","timestamp":', "not_json"),
    "json_array": (b"[1,2,3]", "not_object"),
    "json_string": (b'"an event"', "not_object"),
    "json_number": (b"42", "not_object"),
    "json_null": (b"null", "not_object"),
    "json_true": (b"true", "not_object"),
    "empty_object": (b"{}", "missing_account"),
    "whitespace_only": (b" \t  ", "blank"),
    "deep_nesting": (_with(properties='{"a":' * 500 + "1" + "}" * 500), "valid"),
    "duplicate_keys": (_with(units="1", extra_units="2"), "valid"),
    # Numbers at every edge.
    "units_20_digits": (_with(units="12345678901234567890"), "units_out_of_range"),
    "units_1e15": (_with(units="1e15"), "units_out_of_range"),
    "units_15_digits_max": (_with(units="999999999999999"), "valid"),
    "units_1e400": (_with(units="1e400"), "invalid_units"),
    "units_40_digits_string": (_with(units='"' + "9" * 40 + '"'), "invalid_units"),
    "units_minus_zero": (_with(units="-0"), "valid"),
    "units_1e-10": (_with(units="1e-10"), "units_too_precise"),
    "units_nano": (_with(units="0.000000001"), "valid"),
    "units_nan_string": (_with(units='"NaN"'), "invalid_units"),
    "units_infinity_string": (_with(units='"Infinity"'), "invalid_units"),
    "units_bool": (_with(units="true"), "invalid_units"),
    "units_array": (_with(units="[1]"), "invalid_units"),
    "units_object": (_with(units='{"v":1}'), "invalid_units"),
    "units_empty_string": (_with(units='""'), "invalid_units"),
    "units_negative": (_with(units="-1"), "negative_units"),
    "status_1000": (_with(status_code="1000"), "invalid_status"),
    "status_99": (_with(status_code="99"), "invalid_status"),
    "status_fraction": (_with(status_code="200.5"), "invalid_status"),
    "status_1e400": (_with(status_code="1e400"), "invalid_status"),
    "status_huge_integer": (_with(status_code="123456789012345678901234567890"), "invalid_status"),
    "event_id_huge_number": (_with(event_id="123456789012345678901234567890"), "valid"),
    "event_id_object": (_with(event_id='{"id":1}'), "invalid_event_id"),
    "event_id_10k_chars": (_with(event_id='"' + "e" * 10_000 + '"'), "valid"),
    "account_huge_number": (_with(account_id="98765432109876543210987"), "valid"),
    "account_object": (_with(account_id='{"id":1}'), "invalid_account"),
    "account_emoji": (_with(account_id='"acct_\U0001f600"'), "valid"),
    # An unpaired surrogate has no UTF-8 form: not valid JSON text.
    "account_lone_surrogate_escape": (_with(account_id='"\\ud800"'), "not_json"),
    # Timestamps at the edges.
    # Year 0 exists in ISO 8601's proleptic calendar: valid, and on no invoice (outside any plan).
    "timestamp_year_0": (_with(timestamp='"0000-01-01T00:00:00Z"'), "valid"),
    "timestamp_year_99999": (_with(timestamp='"99999-01-01T00:00:00Z"'), "invalid_timestamp"),
    "timestamp_feb_30": (_with(timestamp='"2026-02-30T00:00:00Z"'), "invalid_timestamp"),
    "timestamp_offset_25h": (_with(timestamp='"2026-01-05T10:00:00+25:00"'), "invalid_timestamp"),
    "timestamp_epoch_number": (_with(timestamp="1767607200"), "invalid_timestamp"),
    "timestamp_huge_number": (_with(timestamp="1e400"), "invalid_timestamp"),
    "timestamp_12_fraction_digits": (_with(timestamp='"2026-01-05T10:00:00.123456789012Z"'), "valid"),
    "timestamp_offset_14h": (_with(timestamp='"2026-01-05T10:00:00+14:00"'), "valid"),
    "meter_number": (_with(meter="7"), "invalid_meter"),
    "endpoint_array": (_with(endpoint='["/v1"]'), "invalid_endpoint"),
}


def _lines_file(kind: str, line: bytes) -> bytes:
    line = line.replace(b'"hostile"', f'"hostile-{kind}"'.encode())  # one id per file: no duplicates
    return b"\n".join([_event(f"{kind}-a"), line, _event(f"{kind}-b")]) + b"\n"


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _file_kinds() -> dict[str, tuple[bytes | None, dict]]:
    """File name → (content, expected). expected: {"rejected": reason} or {"read", "valid", "quarantined"}
    (rows), with "kept": the event ids that must be among the kept events."""

    def ok3(tag: str) -> bytes:
        return b"\n".join(_event(f"{tag}-{i}") for i in range(3)) + b"\n"

    gz = gzip.compress(b"\n".join(_event(f"gz-{i}") for i in range(300)) + b"\n")
    corrupt = bytearray(gz)
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 40] = b"\x00" * 40
    ts_table = pa.table(
        {
            "event_id": ["pq-ts-1", "pq-ts-2"],
            "account_id": ["acct_0001", "acct_0001"],
            "timestamp": pa.array(
                [datetime(2026, 1, 5, 10), datetime(2026, 1, 5, 11, 0, 0, 123456)], pa.timestamp("us")
            ),
            "units": [1, 2],
        }
    )
    tz_table = pa.table(
        {
            "event_id": ["pq-tz-1"],
            "account_id": ["acct_0001"],
            "timestamp": pa.array([datetime(2026, 1, 5, 10, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            "units": [3],
        }
    )
    nan_table = pa.table(
        {
            "event_id": ["pq-nan-1", "pq-nan-2", "pq-nan-3"],
            "account_id": ["acct_0001"] * 3,
            "timestamp": [TS] * 3,
            "units": pa.array([1.5, float("nan"), 2.0], pa.float64()),
        }
    )
    good_parquet = _parquet(ts_table)

    def typed(ids: list[str], **columns) -> bytes:
        n = len(ids)
        base = {"event_id": ids, "account_id": ["acct_0001"] * n, "timestamp": [TS] * n}
        return _parquet(pa.table({**base, **columns}))

    three = {"read": 3, "valid": 3, "quarantined": 0}
    return {
        "plain.ndjson": (ok3("plain"), three),
        "crlf.ndjson": (ok3("crlf").replace(b"\n", b"\r\n"), three),
        "bom.ndjson": (b"\xef\xbb\xbf" + ok3("bom"), {**three, "kept": ["bom-0"]}),
        "no_final_newline.ndjson": (ok3("eol").rstrip(b"\n"), three),
        "blank_lines.jsonl": (b"\n\n" + ok3("blank") + b"\n  \n", three),
        "empty.ndjson": (b"", {"read": 0, "valid": 0, "quarantined": 0}),
        "utf16le.ndjson": (
            b"\xff\xfe" + ok3("u16le").decode().encode("utf-16-le"),
            {"rejected": "unsupported_encoding"},
        ),
        "utf16be.ndjson": (
            b"\xfe\xff" + ok3("u16be").decode().encode("utf-16-be"),
            {"rejected": "unsupported_encoding"},
        ),
        "good.ndjson.gz": (gz, {"read": 300, "valid": 300, "quarantined": 0}),
        "multi_member.ndjson.gz": (
            gzip.compress(_event("mm-1") + b"\n") + gzip.compress(_event("mm-2") + b"\n"),
            {"read": 2, "valid": 2, "quarantined": 0, "kept": ["mm-1", "mm-2"]},
        ),
        "bad_utf8_inside.ndjson.gz": (
            gzip.compress(_lines_file("gzutf8", b'{"account_id":"\xff"}')),
            {"read": 3, "valid": 2, "quarantined": 1, "kept": ["gzutf8-a", "gzutf8-b"]},
        ),
        "plain_text.ndjson.gz": (ok3("plaingz"), {"rejected": "not_gzip"}),
        "truncated.ndjson.gz": (gz[: len(gz) // 2], {"rejected": "truncated_gzip"}),
        "corrupt.ndjson.gz": (bytes(corrupt), {"rejected": "corrupt_gzip"}),
        "garbage.parquet": (b"PAR1 this is not parquet PAR1", {"rejected": "invalid_parquet"}),
        "truncated.parquet": (good_parquet[: len(good_parquet) // 2], {"rejected": "invalid_parquet"}),
        "typed_timestamp.parquet": (
            good_parquet,
            {"read": 2, "valid": 2, "quarantined": 0, "kept": ["pq-ts-1", "pq-ts-2"]},
        ),
        "timestamp_tz.parquet": (
            _parquet(tz_table),
            {"read": 1, "valid": 1, "quarantined": 0, "kept": ["pq-tz-1"]},
        ),
        "float_units_nan.parquet": (
            _parquet(nan_table),
            {"read": 3, "valid": 2, "quarantined": 1, "kept": ["pq-nan-1", "pq-nan-3"]},
        ),
        # Parquet column types at the edges: each row is read, or quarantined with a reason.
        "binary_event_id.parquet": (
            _parquet(
                pa.table(
                    {
                        "event_id": pa.array([b"bin-1", b"bin-2"], pa.binary()),
                        "account_id": ["acct_0001"] * 2,
                        "timestamp": [TS] * 2,
                    }
                )
            ),
            {"read": 2, "valid": 2, "quarantined": 0, "kept": ["bin-1", "bin-2"]},
        ),
        "struct_units.parquet": (
            typed(["su-1"], units=pa.array([{"v": 1}])),
            {"read": 1, "valid": 0, "quarantined": 1, "reasons": ["invalid_units"]},
        ),
        "date_timestamp.parquet": (
            typed(["dt-1"], timestamp=pa.array([datetime(2026, 1, 5).date()], pa.date32())),
            {"read": 1, "valid": 0, "quarantined": 1, "reasons": ["invalid_timestamp"]},
        ),
        "epoch_timestamp.parquet": (
            typed(["ep-1"], timestamp=pa.array([1767607200], pa.int64())),
            {"read": 1, "valid": 0, "quarantined": 1, "reasons": ["invalid_timestamp"]},
        ),
        "nanosecond_timestamp.parquet": (
            typed(["ns-1"], timestamp=pa.array([datetime(2026, 1, 5, 10)], pa.timestamp("ns"))),
            {"read": 1, "valid": 1, "quarantined": 0, "kept": ["ns-1"]},
        ),
        "decimal_units.parquet": (
            typed(
                ["dec-1", "dec-2"],
                units=pa.array([Decimal("1.5"), Decimal("99999999999999999.5")], pa.decimal128(38, 20)),
            ),
            {"read": 2, "valid": 1, "quarantined": 1, "kept": ["dec-1"], "reasons": ["units_out_of_range"]},
        ),
        "uint64_units.parquet": (
            typed(["u64-1"], units=pa.array([2**64 - 1], pa.uint64())),
            {"read": 1, "valid": 0, "quarantined": 1, "reasons": ["units_out_of_range"]},
        ),
        "float_inf_units.parquet": (
            typed(["inf-1", "inf-2"], units=pa.array([float("inf"), 1e-12])),
            {"read": 2, "valid": 0, "quarantined": 2, "reasons": ["invalid_units", "units_too_precise"]},
        ),
        "dictionary_account.parquet": (
            typed(["dict-1"], account_id=pa.array(["acct_0001"]).dictionary_encode()),
            {"read": 1, "valid": 1, "quarantined": 0, "kept": ["dict-1"]},
        ),
        "nested_metadata.parquet": (
            typed(
                ["nest-1"],
                properties=pa.array([[1, 2]]),
                metadata=pa.array([{"endpoint": "/v1/x", "status": 404}]),
            ),
            {"read": 1, "valid": 1, "quarantined": 0, "kept": ["nest-1"]},
        ),
        "no_rows.parquet": (
            _parquet(pa.table({"event_id": pa.array([], pa.string())})),
            {"read": 0, "valid": 0, "quarantined": 0},
        ),
        "notes.json": (b'{"not": "events"}', {"unsupported": True}),
        "archive.gz": (gzip.compress(b"x"), {"unsupported": True}),
        "UPPER.NDJSON": (_lines_file("upper", _event("upper-c")), {"read": 3, "valid": 3, "quarantined": 0}),
        "star*.ndjson": (_lines_file("star", _event("star-c")), three),
        "star1.ndjson": (_lines_file("star1", _event("star1-c")), three),
        "q?.ndjson": (_lines_file("q", _event("q-c")), three),
        "qa.ndjson": (_lines_file("qa", _event("qa-c")), three),
        "br[1].ndjson": (_lines_file("br", _event("br-c")), three),
        "br1.ndjson": (_lines_file("br1", _event("br1-c")), three),
        "back\\slash.ndjson": (_lines_file("bs", _event("bs-c")), three),
        "quote's; drop table x.ndjson": (_lines_file("quote", _event("quote-c")), three),
        "spaces and ünïcode.ndjson": (_lines_file("uni", _event("uni-c")), three),
        "dangling.ndjson": (None, {"rejected": "unreadable"}),
    }


def _reconciliation(warehouse) -> dict[str, tuple[int, int, int, int]]:
    rows = warehouse.query(
        "select source_file, rows_read, rows_valid, rows_duplicate, rows_quarantined from marts.event_reconciliation"
    )
    return {os.path.basename(f): tuple(n) for f, *n in rows}


def test_hostile_corpus_is_quarantined_or_rejected_and_every_file_reconciles(warehouse) -> None:
    assert len(LINE_KINDS) >= 60
    files = _file_kinds()
    assert len(files) >= 20
    for kind, (line, _) in LINE_KINDS.items():
        (warehouse.events_dir / f"line_{kind}.ndjson").write_bytes(_lines_file(kind, line))
    for name, (content, _) in files.items():
        path = warehouse.events_dir / name
        if content is None:
            os.symlink(warehouse.events_dir / "does-not-exist.ndjson", path)
        else:
            path.write_bytes(content)

    warehouse.build()

    reconciliation = _reconciliation(warehouse)
    kept = {r[0] for r in warehouse.query("select event_id from intermediate.int_usage_events_deduplicated")}
    quarantined = {
        (os.path.basename(f), n): reason
        for f, n, reason in warehouse.query(
            "select source_file, line_number, reason from marts.events_quarantined"
        )
    }
    rejected = {
        os.path.basename(f): (reason, damaged)
        for f, reason, damaged in warehouse.query(
            "select source_file, reason, is_damaged from marts.event_files_rejected"
        )
    }
    problems = []
    # E3 for every file that was read.
    for name, (read, valid, duplicate, quarantine) in reconciliation.items():
        if read != valid + duplicate + quarantine:
            problems.append(f"{name}: {read} read != {valid} + {duplicate} + {quarantine}")
    for kind, (_, expected) in LINE_KINDS.items():
        name = f"line_{kind}.ndjson"
        got = reconciliation.get(name)
        rows = 2 if expected == "blank" else 3
        want_valid = 3 if expected == "valid" else 2
        if got != (
            rows,
            want_valid if expected != "blank" else 2,
            0,
            rows - (3 if expected == "valid" else 2),
        ):
            problems.append(f"{name}: reconciliation {got}, expected {expected}")
        if expected not in ("valid", "blank") and quarantined.get((name, 2)) != expected:
            problems.append(
                f"{name}: line 2 quarantined as {quarantined.get((name, 2))}, expected {expected}"
            )
        for eid in (f"{kind}-a", f"{kind}-b"):
            if eid not in kept:
                problems.append(f"{name}: valid event {eid} not among the kept events")
    for name, (_, expected) in files.items():
        if "rejected" in expected:
            if rejected.get(name) != (expected["rejected"], True):
                problems.append(f"{name}: rejected as {rejected.get(name)}, expected {expected['rejected']}")
            if name in reconciliation:
                problems.append(f"{name}: a rejected file was partly loaded {reconciliation[name]}")
        elif "unsupported" in expected:
            if rejected.get(name) != ("unsupported_file_type", False):
                problems.append(f"{name}: {rejected.get(name)}, expected unsupported_file_type")
        else:
            got = reconciliation.get(name, (0, 0, 0, 0))
            if (got[0], got[1], got[3]) != (expected["read"], expected["valid"], expected["quarantined"]):
                problems.append(f"{name}: reconciliation {got}, expected {expected}")
            for eid in expected.get("kept", []):
                if eid not in kept:
                    problems.append(f"{name}: valid event {eid} not among the kept events")
            reasons = sorted(r for (f, _), r in quarantined.items() if f == name)
            if "reasons" in expected and reasons != sorted(expected["reasons"]):
                problems.append(f"{name}: quarantined as {reasons}, expected {expected['reasons']}")
    assert not problems, "\n".join(problems)

    # The hex escapes keep an invalid line's bytes readable.
    (raw,) = warehouse.query(
        "select raw from marts.events_quarantined where source_file like '%line_invalid_utf8_ff.ndjson'"
    )[0]
    assert raw == '{"account_id":"\\xff\\xfe","timestamp":"x"}'
    # The 15-digit units were billed without an error downstream (the build passed) and kept exactly.
    ((units,),) = warehouse.query(
        "select units from intermediate.int_usage_events_deduplicated where event_id = 'hostile-units_15_digits_max'"
    )
    assert str(units) == "999999999999999.000000000"


@pytest.mark.parametrize("rounds", [3])
def test_rejected_file_is_retried_only_when_its_bytes_change(warehouse, rounds: int) -> None:
    import dagster as dg

    from orchestration.code_location.checks import event_files_rejected

    gz = gzip.compress(b"\n".join(_event(f"retry-{i}") for i in range(50)) + b"\n")
    warehouse.write_events("good.ndjson", [json.loads(_event("first"))])
    damaged = warehouse.events_dir / "late.ndjson.gz"
    damaged.write_bytes(gz[: len(gz) // 2])
    warehouse.build()
    checks = "select status, reason from staging.stg_raw_events__event_files where source_file like '%late.ndjson.gz'"
    assert warehouse.query(checks) == [("rejected", "truncated_gzip")]
    # The asset check is red (an error) while the damaged file is not loaded.
    red = event_files_rejected()
    assert (red.passed, red.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert red.metadata["damaged_files"].value == 1
    # The same bytes: not checked again, still listed, nothing of it loaded.
    for _ in range(rounds - 2):
        warehouse.build()
    assert warehouse.query(checks) == [("rejected", "truncated_gzip")]
    assert warehouse.query("select count(*) from marts.event_files_rejected") == [(1,)]
    # The whole file arrives: the next build loads it, and it leaves the rejected list.
    damaged.write_bytes(gz)
    warehouse.build()
    assert sorted(warehouse.query(checks)) == [("ok", None), ("rejected", "truncated_gzip")]
    assert warehouse.query("select count(*) from marts.event_files_rejected") == [(0,)]
    assert event_files_rejected().passed
    assert warehouse.query(
        "select rows_read, rows_valid from marts.event_reconciliation where source_file like '%late.ndjson.gz'"
    ) == [(50, 50)]


def test_events_location_that_never_matched_is_an_error(warehouse, monkeypatch) -> None:
    monkeypatch.setenv("USAGE_BILLING_EVENTS", str(warehouse.root / "mistyped") + "/**/*")
    with pytest.raises(Exception) as empty:
        warehouse.build()
    assert "mistyped/**/* matches no file, and no event file was ever loaded" in str(empty.value)
    monkeypatch.setenv("USAGE_BILLING_EVENTS", "hdfs://namenode/raw/**/*")
    with pytest.raises(Exception) as scheme:
        warehouse.build()
    assert "hdfs:// scheme is not supported" in str(scheme.value)
    # Once files were loaded, a run with no new file is a normal no-op.
    monkeypatch.setenv("USAGE_BILLING_EVENTS", str(warehouse.events_dir) + "/**/*")
    warehouse.write_events("one.ndjson", [json.loads(_event("only"))])
    warehouse.build()
    (warehouse.events_dir / "one.ndjson").rename(warehouse.root / "one.ndjson")
    warehouse.build()
    assert warehouse.query("select count(*) from intermediate.int_usage_events_deduplicated") == [(1,)]
