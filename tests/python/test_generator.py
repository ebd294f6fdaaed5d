"""Tests for orchestration.generator (synthetic raw usage events, CONTRACT.md section 1).

The reconciliation tests re-validate every line with an independent, plain-Python reading of rules E1/E2 and
compare the result with the summary the generator returns, per file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchestration.generator import MALFORMED_KINDS, PARQUET_SCHEMA, generate_events

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
NAME = re.compile(r"^events_\d{4}-\d{2}_\d{3}\.(ndjson|ndjson\.gz|parquet)$")
TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?$")


# ---------------------------------------------------------------------------------------------------------
# An independent reading of the contract's event rules
# ---------------------------------------------------------------------------------------------------------
def _first(obj: dict, *keys):
    for key in keys:
        if obj.get(key) is not None:
            return obj[key]
    return None


def _timestamp(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    m = TS.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, off = m.groups()
    try:
        local = datetime(
            int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "0")[:6].ljust(6, "0"))
        )
    except ValueError:
        return None
    minutes = 0
    if off and off != "Z":
        digits = off[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
        minutes = -minutes if off[0] == "-" else minutes
    return (local - timedelta(minutes=minutes)).replace(tzinfo=UTC)


def parse_event(obj) -> tuple | None:
    """(id, utc timestamp, comparable content) of a valid event, None for a quarantined one."""
    if not isinstance(obj, dict):
        return None
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    account = _first(obj, "account_id", "customer_id", "user_id")
    if account is None or isinstance(account, bool) or str(account) == "":
        return None
    account = str(account)
    meter = _first(obj, "meter", "event_name") or "api_calls"
    units = _first(obj, "units", "quantity")
    if units is None:
        units = Decimal(1)
    elif isinstance(units, bool):
        return None
    elif isinstance(units, int | Decimal) or (
        isinstance(units, str) and re.fullmatch(r"-?\d+(\.\d+)?", units)
    ):
        units = Decimal(units)
    else:
        return None  # NaN arrives as a float, non-numeric strings, ...
    if not units.is_finite() or units < 0 or max(0, -units.normalize().as_tuple().exponent) > 9:
        return None
    ts = _timestamp(obj.get("timestamp"))
    if ts is None:
        return None
    endpoint = obj.get("endpoint") if obj.get("endpoint") is not None else meta.get("endpoint")
    endpoint = endpoint.split("?")[0] if endpoint else None
    status = obj.get("status_code") if obj.get("status_code") is not None else meta.get("status")
    if status is None:
        status = 200
    elif isinstance(status, bool):
        return None
    elif isinstance(status, str) and re.fullmatch(r"\d+", status):
        status = int(status)
    elif not isinstance(status, int):
        return None
    if not 100 <= status <= 599:
        return None
    content = (account, meter, units, ts, endpoint, status)
    event_id = obj.get("event_id")
    if event_id in (None, ""):
        payload = [
            account,
            meter,
            str(units.normalize()),
            ts.isoformat(),
            endpoint,
            status,
            obj.get("properties"),
            obj.get("metadata"),
        ]
        event_id = "derived:" + hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()
    return str(event_id), ts, content


def parse_line(line: str) -> tuple | None:
    try:
        obj = json.loads(line, parse_float=Decimal)
    except ValueError:
        return None
    return parse_event(obj)


def read_lines(path: Path) -> list[str]:
    raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    text = raw.decode("utf-8")
    assert text == "" or text.endswith("\n")
    assert "\r" not in text
    return text.split("\n")[:-1]


def reconcile(records: dict[str, list[tuple | None]]) -> tuple[dict, Counter]:
    """records: file path -> parsed line (None = malformed, "blank").  Returns per-file E3 counts + totals."""
    per_file = {p: Counter() for p in records}
    kept: dict[str, tuple] = {}
    for path, rows in records.items():
        for lineno, rec in enumerate(rows, 1):
            if rec == "blank":
                per_file[path]["blank"] += 1
                continue
            per_file[path]["rows"] += 1
            if rec is None:
                per_file[path]["malformed"] += 1
                continue
            event_id, ts, content = rec
            key = (ts, path, lineno)
            if event_id not in kept or key < kept[event_id][0]:
                kept[event_id] = (key, content)
    totals = Counter(valid=len(kept))
    for path, rows in records.items():
        for lineno, rec in enumerate(rows, 1):
            if rec in (None, "blank"):
                continue
            event_id, ts, content = rec
            (k_ts, k_path, k_line), k_content = kept[event_id]
            if (k_path, k_line) == (path, lineno):
                per_file[path]["valid"] += 1
            else:
                per_file[path]["duplicate"] += 1
                totals["duplicate"] += 1
                if content != k_content:
                    per_file[path]["conflict"] += 1
                    totals["conflict"] += 1
    return per_file, totals


def ndjson_records(summary: dict) -> dict[str, list]:
    out = {}
    for path in summary["files"]:
        out[path] = ["blank" if line == "" else parse_line(line) for line in read_lines(Path(path))]
    return out


def check_reconciles(summary: dict, records: dict[str, list]) -> None:
    per_file, totals = reconcile(records)
    counts = summary["counts"]
    for path, got in per_file.items():
        want = summary["per_file"][path]
        for key in ("rows", "blank", "valid", "duplicate", "conflict", "malformed"):
            assert got[key] == want[key], (path, key, got, want)
        assert want["rows"] == want["valid"] + want["duplicate"] + want["malformed"]
        assert summary["rows_per_file"][path] == want["rows"]
    assert totals["valid"] == counts["valid"]
    assert totals["duplicate"] == counts["duplicate"] == counts["resend"] + counts["conflict"]
    assert totals["conflict"] == counts["conflict"]
    assert counts["rows"] == counts["valid"] + counts["duplicate"] + counts["malformed"]
    assert sum(summary["rows_per_file"].values()) == counts["rows"]
    assert counts["lines"] == counts["rows"] + counts["blank"]


def file_hashes(summary: dict) -> dict[str, str]:
    return {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in summary["files"]}


# ---------------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ndjson_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("ndjson")
    summary = generate_events(
        base / "events",
        events=6000,
        accounts=200,
        months=3,
        seed=7,
        malformed_rate=0.05,
        resend_rate=0.03,
        conflict_rate=0.02,
        late_rate=0.03,
        blank_line_rate=0.002,
        write_catalog=base / "catalog",
    )
    return summary, ndjson_records(summary)


# ---------------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------------
def test_summary_reconciles_with_files(ndjson_run):
    summary, records = ndjson_run
    check_reconciles(summary, records)
    counts = summary["counts"]
    assert counts["malformed"] == sum(1 for rows in records.values() for r in rows if r is None)
    assert counts["malformed"] == sum(summary["malformed_by_kind"].values()) == 300
    assert all(summary["malformed_by_kind"][k] > 0 for k in MALFORMED_KINDS)
    assert counts["resend"] > 0 and counts["conflict"] > 0 and counts["blank"] > 0
    assert 0 < counts["conflict_copy_kept"] < counts["conflict"]


def test_every_line_is_json_except_deliberately_malformed(ndjson_run):
    summary, records = ndjson_run
    aliases = Counter()
    for path in summary["files"]:
        for line in read_lines(Path(path)):
            if line == "":
                continue
            rec = parse_line(line)
            if rec is None:
                continue
            obj = json.loads(line)  # plain json.loads, no special number handling
            assert isinstance(obj, dict)
            aliases.update(
                k for k in ("customer_id", "user_id", "event_name", "quantity", "metadata") if k in obj
            )
            if "properties" in obj and "note" in obj["properties"]:
                assert obj["properties"]["note"] == 'café "quoted" \\ back\tslash'
                aliases["escaped"] += 1
    for key in ("customer_id", "user_id", "event_name", "quantity", "metadata", "escaped"):
        assert aliases[key] > 0, key


def test_event_variety(ndjson_run):
    summary, records = ndjson_run
    meters, endpoints, offsets, statuses, units = Counter(), Counter(), Counter(), Counter(), Counter()
    ids = Counter()
    for path in summary["files"]:
        for line in read_lines(Path(path)):
            if not line or parse_line(line) is None:
                continue
            obj = json.loads(line, parse_float=Decimal)
            meters[obj.get("meter") or obj.get("event_name") or "(default)"] += 1
            endpoints[obj.get("endpoint") or (obj.get("metadata") or {}).get("endpoint")] += 1
            ts = obj["timestamp"]
            offsets[re.sub(r"^[\d-]+[T ][\d:]+(\.\d+)?", "", ts) or "(none)"] += 1
            statuses[
                int(obj.get("status_code") or (obj.get("metadata") or {}).get("status") or 200) // 100
            ] += 1
            if isinstance(obj.get("units"), Decimal):
                units["decimal"] += 1
            ids["absent" if "event_id" not in obj else ("empty" if obj["event_id"] == "" else "set")] += 1
            assert " " in ts or "T" in ts
    assert {"api_calls", "tokens", "compute_seconds", "storage_gb"} <= set(meters)
    assert {
        "/v1/search",
        "/v1/search?q=shoes",
        "/v1/ai/chat",
        "/v1/ai/embed",
        "/v1/users",
        "/v1/export",
    } <= set(endpoints)
    assert {"Z", "(none)", "+02:00", "+0530", "-07"} <= set(offsets)
    assert statuses[2] > statuses[4] > 0 and statuses[5] > 0
    assert units["decimal"] > 0
    assert ids["absent"] > 0 and ids["empty"] > 0 and ids["set"] > ids["absent"]
    assert summary["counts"]["unknown_account"] > 0 and summary["counts"]["test_account"] > 0


def test_file_layout_and_late_arrivals(ndjson_run):
    summary, records = ndjson_run
    names = [Path(p).name for p in summary["files"]]
    assert names == sorted(names) and all(NAME.match(n) for n in names)
    assert {n[7:14] for n in names} == {"2026-01", "2026-02", "2026-03"}
    late = 0
    for path, rows in records.items():
        month = Path(path).name[7:14]
        for rec in rows:
            if rec not in (None, "blank"):
                assert date(2026, 1, 1) <= rec[1].date() < date(2026, 4, 1)
                late += rec[1].strftime("%Y-%m") < month
    assert late >= summary["counts"]["late"] > 0


def catalog_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.csv"))}


def test_deterministic_and_seed_sensitive(tmp_path):
    args = dict(events=3000, accounts=50, months=2, seed=11, malformed_rate=0.01)
    a = generate_events(tmp_path / "a", write_catalog=tmp_path / "cat_a", **args)
    b = generate_events(tmp_path / "b", write_catalog=tmp_path / "cat_b", **args)
    assert file_hashes(a) == file_hashes(b)
    assert a["counts"] == b["counts"]
    # the catalog copy, generated credit grants included, is byte-for-byte reproducible too
    assert catalog_hashes(tmp_path / "cat_a") == catalog_hashes(tmp_path / "cat_b")
    assert (tmp_path / "cat_a" / "credit_grants.csv").read_text().count("\ngr_") > 0
    c = generate_events(tmp_path / "c", write_catalog=tmp_path / "cat_c", **{**args, "seed": 12})
    assert file_hashes(a) != file_hashes(c)
    assert catalog_hashes(tmp_path / "cat_a") != catalog_hashes(tmp_path / "cat_c")
    # a re-run into the same directory replaces the previous files
    again = generate_events(tmp_path / "a", **{**args, "files": 1})
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [Path(p).name for p in again["files"]]


def test_gzip_is_deterministic_and_readable(tmp_path):
    args = dict(events=2000, accounts=30, months=2, seed=3, fmt="ndjson.gz")
    a = generate_events(tmp_path / "a", **args)
    b = generate_events(tmp_path / "b", **args)
    assert file_hashes(a) == file_hashes(b)
    assert all(p.endswith(".ndjson.gz") for p in a["files"])
    check_reconciles(a, ndjson_records(a))


def test_explicit_file_count(tmp_path):
    s = generate_events(
        tmp_path / "ev", events=4000, accounts=40, months=2, seed=5, files=5, resend_rate=0.05
    )
    assert len(s["files"]) == 5
    names = [Path(p).name for p in s["files"]]
    assert names == sorted(names) and all(NAME.match(n) for n in names)
    check_reconciles(s, ndjson_records(s))


def test_parquet(tmp_path):
    s = generate_events(
        tmp_path / "pq",
        events=3000,
        accounts=40,
        months=2,
        seed=9,
        fmt="parquet",
        resend_rate=0.02,
        conflict_rate=0.01,
    )
    assert s["counts"]["malformed"] == 0 and s["counts"]["blank"] == 0
    again = generate_events(
        tmp_path / "pq2",
        events=3000,
        accounts=40,
        months=2,
        seed=9,
        fmt="parquet",
        resend_rate=0.02,
        conflict_rate=0.01,
    )
    assert file_hashes(s) == file_hashes(again)
    records = {}
    for path in s["files"]:
        table = pq.read_table(path)
        assert table.schema.equals(PARQUET_SCHEMA)
        rows = []
        for row in table.to_pylist():
            obj = {k: v for k, v in row.items() if v is not None}
            if "properties" in obj:
                obj["properties"] = json.loads(obj["properties"])
            if "units" in obj:
                assert isinstance(obj["units"], str)
                obj["units"] = Decimal(obj["units"])
            rec = parse_event(obj)
            assert rec is not None, row
            rows.append(rec)
        records[path] = rows
    check_reconciles(s, records)


def test_traffic_is_skewed(tmp_path):
    s = generate_events(tmp_path / "ev", events=20000, accounts=500, months=1, seed=1)
    per_account = Counter()
    for rows in ndjson_records(s).values():
        for rec in rows:
            if rec not in (None, "blank"):
                per_account[rec[2][0]] += 1
    known = [a for a in per_account if a not in set(s["unknown_account_ids"])]
    assert len(known) <= 500
    total = sum(per_account.values())
    top = sum(n for _, n in per_account.most_common(50))
    assert top / total > 0.5
    assert sum(1 for a in known if per_account[a] <= 10) > 100  # a long tail of small accounts


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_write_catalog(ndjson_run, tmp_path):
    summary, records = ndjson_run
    catalog = Path(summary["catalog"])
    for original in SEEDS.glob("*.csv"):
        copy = (catalog / original.name).read_bytes()
        assert copy.startswith(original.read_bytes().rstrip(b"\n")), original.name
    accounts = {r["account_id"]: r for r in _read_csv(catalog / "accounts.csv")}
    plans = {r["plan_id"]: r for r in _read_csv(catalog / "plans.csv")}
    history = defaultdict(list)
    for r in _read_csv(catalog / "account_plans.csv"):
        history[r["account_id"]].append(r)
    assert len(accounts) == summary["accounts_known"] == 200
    used = {rec[2][0] for rows in records.values() for rec in rows if rec not in (None, "blank")}
    unknown = set(summary["unknown_account_ids"])
    assert used & unknown and not (unknown & set(accounts))
    for account in used - unknown:
        assert account in accounts and history[account], account
    changes = 0
    for account, rows in history.items():
        assert account in accounts
        rows = sorted(rows, key=lambda r: r["valid_from"])
        for i, r in enumerate(rows):
            assert r["plan_id"] in plans
            assert plans[r["plan_id"]]["currency"] == accounts[account]["currency"]
            if r["valid_to"]:
                assert r["valid_to"] > r["valid_from"]
            if i + 1 < len(rows):
                assert r["valid_to"] and r["valid_to"] <= rows[i + 1]["valid_from"], (account, rows)
        if len(rows) > 1 and len(account) == len("acct_000001"):
            changes += rows[1]["valid_from"][8:] != "01"
    generated = [a for a in accounts.values() if len(a["account_id"]) == len("acct_000001")]
    assert len(generated) == summary["accounts_generated"] > 0
    assert all(a["currency"] == "usd" and 1 <= int(a["billing_anchor_day"]) <= 28 for a in generated)
    assert len({a["billing_anchor_day"] for a in generated}) > 10
    assert changes > 0


def test_small_account_counts_use_catalog_accounts(tmp_path):
    s = generate_events(tmp_path / "ev", events=500, accounts=3, months=1, seed=2, unknown_account_rate=0.0)
    used = {rec[2][0] for rows in ndjson_records(s).values() for rec in rows if rec not in (None, "blank")}
    assert used <= {"acct_0001", "acct_0002", "acct_0008"} and "acct_0008" in used
    assert s["accounts_generated"] == 0


# ---------------------------------------------------------------------------------------------------------
# Catalog-driven meters: unique_count properties, count units; generated credit grants
# ---------------------------------------------------------------------------------------------------------
def _meters_by_aggregation(catalog: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for row in _read_csv(catalog / "meters.csv"):
        out[row["aggregation"]].append(row)
    return out


def _json_text_numbers(line: str):
    """json.loads keeping every number as ("num", its text), so 1 and 1.0 stay apart."""
    return json.loads(line, parse_int=lambda t: ("num", t), parse_float=lambda t: ("num", t))


@pytest.fixture(scope="module")
def meter_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("meters")
    summary = generate_events(
        base / "events", events=40_000, accounts=40, months=1, seed=4, malformed_rate=0.0, alias_rate=0.0
    )
    by_meter: dict[str, list[dict]] = defaultdict(list)
    for path in summary["files"]:
        for line in read_lines(Path(path)):
            if line:
                obj = _json_text_numbers(line)
                by_meter[obj.get("meter") or "api_calls"].append(obj)
    return summary, by_meter


def test_unique_count_meter_values(meter_run):
    """Events of a unique_count meter over properties.<key> carry values from a small per-account pool of
    JSON strings, plus a few JSON numbers (1 and 1.0 among them), the string "1", null and absent values."""
    _, by_meter = meter_run
    unique = [
        m
        for m in _meters_by_aggregation(SEEDS)["unique_count"]
        if m["unique_field"].startswith("properties.")
    ]
    assert unique, "the sample catalog has a unique_count meter over properties.<key>"
    for meter in unique:
        path = meter["unique_field"].split(".")[1:]
        events = by_meter[meter["meter"]]
        assert len(events) > 500, meter
        kinds: Counter = Counter()
        pools: dict[str, set] = defaultdict(set)
        for obj in events:
            value = obj.get("properties", {})
            for key in path:
                value = value.get(key, "<absent>") if isinstance(value, dict) else "<absent>"
            if isinstance(value, tuple):
                kinds[f"number {value[1]}"] += 1
            elif value is None:
                kinds["null"] += 1
            elif value == "<absent>":
                kinds["absent without properties" if "properties" not in obj else "absent, other keys"] += 1
            elif re.fullmatch(r"u_\d+", value):
                kinds["pooled string"] += 1
                pools[obj["account_id"]].add(value)
            else:
                kinds[f"string {value}"] += 1
        assert kinds["pooled string"] > 0.8 * len(events)
        for kind in (
            "number 1",
            "number 1.0",
            "string 1",
            "null",
            "absent without properties",
            "absent, other keys",
        ):
            assert kinds[kind] > 0, (kind, kinds)
        assert all(len(values) <= 40 for values in pools.values())
        assert max(len(values) for values in pools.values()) >= 10  # busy accounts use much of their pool
        assert len(set.union(*pools.values())) > 40  # pools differ between accounts


def test_count_meter_units_are_arbitrary(meter_run):
    _, by_meter = meter_run
    for meter in _meters_by_aggregation(SEEDS)["count"]:
        units = Counter()
        for obj in by_meter[meter["meter"]]:
            value = obj.get("units")
            units[value[1] if isinstance(value, tuple) else value] += 1
        assert len(units) > 50, meter
        assert "0" in units and any("." in str(u) for u in units) and any(isinstance(u, str) for u in units)


def test_batch_reporters_on_every_plan(ndjson_run):
    """The busiest generated account of each usd plan sends api_calls in batches (hard limits and caps are
    reached in the parity data); its partner on that plan does not."""
    summary, records = ndjson_run
    catalog = Path(summary["catalog"])
    plans = {r["plan_id"] for r in _read_csv(catalog / "plans.csv") if r["currency"] == "usd"}
    history = defaultdict(list)
    for r in _read_csv(catalog / "account_plans.csv"):
        history[r["account_id"]].append(r["plan_id"])
    batch_units = Counter()
    for rows in records.values():
        for rec in rows:
            if rec not in (None, "blank") and rec[2][1] == "api_calls" and rec[2][2] >= 50:
                batch_units[rec[2][0]] += 1
    on_plan = {p for a, n in batch_units.items() if n >= 5 and len(history[a]) == 1 for p in history[a]}
    assert plans <= on_plan, plans - on_plan


def test_generated_credit_grants(ndjson_run):
    summary, _ = ndjson_run
    catalog = Path(summary["catalog"])
    accounts = {r["account_id"]: r for r in _read_csv(catalog / "accounts.csv")}
    generated = [a for a in accounts if len(a) == len("acct_000001")]
    seed_ids = {r["grant_id"] for r in _read_csv(SEEDS / "credit_grants.csv")}
    grants = [r for r in _read_csv(catalog / "credit_grants.csv") if r["grant_id"] not in seed_ids]
    assert len({g["grant_id"] for g in grants}) == len(grants)
    per_account = Counter(g["account_id"] for g in grants)
    assert set(per_account) <= set(generated)
    assert 0.15 * len(generated) < len(per_account) < 0.45 * len(generated)
    assert set(per_account.values()) == {1, 2, 3}
    start, end = date.fromisoformat(summary["start"]), date.fromisoformat(summary["end"])
    styles = Counter()
    for g in grants:
        assert re.fullmatch(r"\d+\.\d{2,4}", g["amount"]) and Decimal(g["amount"]) > 0, g
        styles[f"decimals {len(g['amount'].split('.')[1])}"] += 1
        effective = date.fromisoformat(g["effective_at"])
        assert start <= effective < end
        if not g["expires_at"]:
            styles["never"] += 1
            continue
        expires = date.fromisoformat(g["expires_at"])
        assert expires > effective
        anchor = int(accounts[g["account_id"]]["billing_anchor_day"])
        if expires.day == anchor:
            styles["on a period boundary"] += 1
            styles["boundary inside the range"] += expires < end
        else:
            styles["mid-period"] += 1
            styles["mid-period inside the range"] += expires < end
    for style in ("decimals 2", "decimals 3", "decimals 4", "never", "on a period boundary", "mid-period"):
        assert styles[style] > 0, (style, styles)
    assert styles["boundary inside the range"] > 0 and styles["mid-period inside the range"] > 0


def test_grants_file_created_when_the_catalog_has_none(tmp_path):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    for f in SEEDS.glob("*.csv"):
        if f.name != "credit_grants.csv":
            (catalog / f.name).write_bytes(f.read_bytes())
    generate_events(
        tmp_path / "ev",
        events=500,
        accounts=40,
        months=2,
        seed=8,
        catalog_dir=catalog,
        write_catalog=tmp_path / "out",
    )
    rows = _read_csv(tmp_path / "out" / "credit_grants.csv")
    assert rows and list(rows[0]) == ["grant_id", "account_id", "amount", "effective_at", "expires_at"]
