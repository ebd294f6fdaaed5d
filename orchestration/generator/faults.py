"""Delivery faults: what goes wrong between the meter and the warehouse (see the package docstring,
"Rates").  Late events, byte-identical re-sends, conflicting second copies, delivery times, ids of unknown
accounts, and the malformed lines (one broken rule each) that only NDJSON carries."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.generator.encoding import (
    ChunkContext,
    FragmentTables,
    constant_or_null,
    member_pieces,
    status_slot,
    timestamp_text,
    units_text,
)
from orchestration.generator.strings import concat, string_array, take, where
from orchestration.generator.traffic import (
    KIND_BLANK,
    KIND_CONFLICT,
    KIND_RESEND,
    KIND_VALID,
    MALFORMED_KINDS,
    NANO,
    US_PER_DAY,
    US_PER_S,
    DateRange,
)

MALFORMED_KIND_CODE = {name: i for i, name in enumerate(MALFORMED_KINDS)}
IMPOSSIBLE_MONTH_DAYS = ["02-30", "02-31", "04-31", "06-31", "09-31", "11-31", "13-01", "00-10", "01-32"]


def unknown_account_ids(catalog_ids: set[str], accounts: int) -> list[str]:
    """``acct_unknown_NNNN`` ids that are not in the catalog (E5): 3..1,000, one per 100 known accounts."""
    n_pool = int(min(1000, max(3, accounts // 100)))
    ids = []
    k = 1
    while len(ids) < n_pool:
        candidate = f"acct_unknown_{k:04d}"
        if candidate not in catalog_ids:
            ids.append(candidate)
        k += 1
    return ids


class DeliveryFaults(NamedTuple):
    """Which valid base rows arrive late, are re-sent, or get a conflicting second copy (disjoint)."""

    late_idx: np.ndarray
    resend_src: np.ndarray
    conflict_src: np.ndarray
    conflicts: dict[str, np.ndarray]  # the conflicting copies' units, ustyle and ts, per conflict_src


def choose_delivery_faults(
    rng: np.random.Generator,
    base: dict[str, np.ndarray],
    ts_month: np.ndarray,
    dates: DateRange,
    n_valid: int,
    late_rate: float,
    resend_rate: float,
    conflict_rate: float,
) -> DeliveryFaults:
    """Each count is exactly ``round(rate * n_valid)`` (or all there are)."""
    # late events: valid, from a month before the last one, delivered in a later month
    late_cand = np.flatnonzero((base["kind"] == KIND_VALID) & (ts_month < dates.last_month))
    n_late = int(min(len(late_cand), round(late_rate * n_valid)))
    late_idx = np.sort(rng.choice(late_cand, size=n_late, replace=False)) if n_late else np.empty(0, np.int64)

    # duplicates: disjoint sources
    valid_idx = np.flatnonzero(base["kind"] == KIND_VALID)
    n_res = int(round(resend_rate * n_valid))
    n_con_target = int(round(conflict_rate * n_valid))
    perm = rng.permutation(valid_idx) if (n_res or n_con_target) else valid_idx[:0]
    res_src = np.sort(perm[:n_res])
    rest = perm[n_res:]
    rest = rest[base["idstyle"][rest] == 0]  # conflicts need a real event_id
    con_src = np.sort(rest[: min(n_con_target, len(rest))])
    conflicts = conflict_payload(rng, base, con_src, dates.start_us, dates.end_us)
    return DeliveryFaults(late_idx, res_src, con_src, conflicts)


def conflict_payload(
    rng: np.random.Generator, base: dict[str, np.ndarray], con_src: np.ndarray, start_us: int, end_us: int
) -> dict[str, np.ndarray]:
    """Half the conflicting copies differ in units, half in a timestamp shifted either way (an earlier
    copy is the kept one, E2)."""
    k = len(con_src)
    units = base["units"][con_src].copy()
    ustyle = base["ustyle"][con_src].copy()
    ts = base["ts"][con_src].copy()
    by_units = rng.random(k) < 0.5
    # different units: +1 unit (absent/null meant 1, so write 2 explicitly)
    implicit = (ustyle == 0) | (ustyle == 3)
    units = np.where(by_units, np.where(implicit, 2 * NANO, units + NANO), units)
    ustyle = np.where(by_units & implicit, 1, ustyle).astype(np.int8)
    # shifted timestamp: whole seconds, 1 s .. 2 h, either direction (kept inside the range)
    shift = rng.integers(1, 7_200, size=k) * US_PER_S
    back = rng.random(k) < 0.5
    back = np.where(ts - shift < start_us, False, np.where(ts + shift >= end_us - US_PER_S, True, back))
    ts = np.where(by_units, ts, np.where(back, ts - shift, ts + shift))
    return {"units": units, "ustyle": ustyle, "ts": ts}


def delivery_times(
    rng: np.random.Generator,
    ts: np.ndarray,
    ts_month: np.ndarray,
    faults: DeliveryFaults,
    n_blank: int,
    dates: DateRange,
) -> np.ndarray:
    """When each line arrives (UTC microseconds), in line order: the base rows (within 2 minutes, inside
    their month; late ones in the first 10 days of the next month or the one after), the re-sends and the
    conflicts (an exponential delay after their original), the blank lines (anywhere)."""
    month_start_us, last_month = dates.month_start_us, dates.last_month
    start_us, end_us = dates.start_us, dates.end_us
    late_idx = faults.late_idx
    n = len(ts)
    month_end = month_start_us[ts_month + 1] - 1
    base = np.minimum(ts + rng.integers(0, 120 * US_PER_S, size=n), month_end)
    if len(late_idx):
        lm = ts_month[late_idx]
        k = np.minimum(lm + 1 + (rng.random(len(late_idx)) < 0.2), last_month)
        span = np.minimum(month_start_us[k + 1] - month_start_us[k], 10 * US_PER_DAY)
        base[late_idx] = month_start_us[k] + (rng.random(len(late_idx)) * span).astype(np.int64)
    parts = [base]
    for s in (faults.resend_src, faults.conflict_src):
        mean = np.where(rng.random(len(s)) < 0.2, 10 * US_PER_DAY, 1.5 * US_PER_DAY)
        delay = US_PER_S + (rng.exponential(1.0, len(s)) * mean).astype(np.int64)
        parts.append(np.minimum(base[s] + delay, end_us - 1))
    parts.append(start_us + (rng.random(n_blank) * (end_us - start_us)).astype(np.int64))
    return np.concatenate(parts)


def compose_lines(
    base_kind: np.ndarray, faults: DeliveryFaults, n_blank: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every line to write, in this order: the base rows, the re-sends, the conflicting copies, the blank
    lines.  Returns each line's base row (0 for blanks), its kind, and whether it belongs in a month's second
    part (late arrivals, re-sends and conflicts)."""
    n, n_res, n_con = len(base_kind), len(faults.resend_src), len(faults.conflict_src)
    source = np.concatenate(
        [np.arange(n, dtype=np.int64), faults.resend_src, faults.conflict_src, np.zeros(n_blank, np.int64)]
    )
    kind = np.concatenate(
        [
            base_kind,
            np.full(n_res, KIND_RESEND, np.int8),
            np.full(n_con, KIND_CONFLICT, np.int8),
            np.full(n_blank, KIND_BLANK, np.int8),
        ]
    )
    late_mask = np.zeros(n, bool)
    late_mask[faults.late_idx] = True
    in_second_part = np.concatenate([late_mask, np.ones(n_res + n_con, bool), np.zeros(n_blank, bool)])
    return source, kind, in_second_part


# ----------------------------------------------------------------------------------------------------
# Malformed lines: the row's normal line with one rule broken (MALFORMED_KINDS; few rows per chunk)
# ----------------------------------------------------------------------------------------------------
def variant(chunk: dict, k: int) -> np.ndarray:
    """Which of a malformed kind's ``k`` variants each row shows."""
    return chunk["mvar"].astype(np.int64) % k


def malformed_lines(chunk: dict, tables: FragmentTables, ctx: ChunkContext) -> pa.Array:
    """Lines for the malformed rows of a chunk: a broken member, or a whole line that is not an object."""
    mkind = chunk["mkind"]
    members = {
        key: concat(*pieces, null_as_empty=True)
        for key, pieces in member_pieces(chunk, tables, ctx, account_first=False).items()
    }
    broken = [
        ("account", _broken_accounts(chunk)),
        ("timestamp", _broken_timestamps(chunk, tables)),
        ("units", _broken_units(chunk, tables)),
        ("status", _broken_statuses(chunk, tables)),
    ]
    for member, values in broken:
        for kind, value in values:
            members[member] = where(mkind == MALFORMED_KIND_CODE[kind], value, members[member])
    body = concat(*members.values(), null_as_empty=True)
    lines = concat("{", pc.utf8_slice_codeunits(body, 1), "}")
    return _broken_lines(chunk, tables, ctx, lines)


def _broken_accounts(chunk: dict) -> list[tuple[str, object]]:
    v3 = variant(chunk, 3)
    missing = take(string_array([None, ',"account_id":""', ',"account_id":null']), v3, v3 == 0)
    return [("missing_account", missing)]


def _broken_timestamps(chunk: dict, tables: FragmentTables) -> list[tuple[str, object]]:
    ts_us = chunk["ts"]
    v3 = variant(chunk, 3)
    date = pc.take(tables.dates, pa.array(ts_us // US_PER_DAY - tables.first_day))
    hms = pc.take(tables.clock_times, pa.array((ts_us // US_PER_S) % 86_400))
    imp = take(string_array(IMPOSSIBLE_MONTH_DAYS), variant(chunk, len(IMPOSSIBLE_MONTH_DAYS)))
    epoch = where(
        v3 == 0,
        pc.cast(pa.array(ts_us // 1000), pa.string()),
        pc.cast(pa.array(ts_us // US_PER_S), pa.string()),
    )
    return [
        ("epoch_timestamp", concat(',"timestamp":', epoch)),
        ("date_only_timestamp", concat(',"timestamp":"', date, '"')),
        (
            "impossible_date",
            concat(',"timestamp":"', pc.utf8_slice_codeunits(date, 0, 4), "-", imp, "T", hms, 'Z"'),
        ),
        ("missing_timestamp", None),
    ]


def _broken_units(chunk: dict, tables: FragmentTables) -> list[tuple[str, object]]:
    units = chunk["units"]
    v3 = variant(chunk, 3)
    bad_units = [
        ("negative_units", concat("-", units_text(np.where(units > 0, units, NANO), tables))),
        (
            "non_numeric_units",
            take(string_array(['"ten"', '"1,5"', '"12 units"', '"abc"', '"1.2.3"']), variant(chunk, 5)),
        ),
        ("nan_units", take(string_array(["NaN", '"NaN"']), variant(chunk, 2))),
        ("boolean_units", take(string_array(["true", "false"]), variant(chunk, 2))),
    ]
    ip = pc.cast(pa.array(units // NANO), pa.string())
    fr = pc.utf8_lpad(pc.cast(pa.array(units % NANO), pa.string()), width=9, padding="0")
    last_digit = take(string_array(list("123456789")), variant(chunk, 9))
    ten = concat(ip, ".", fr, last_digit)  # 10 fraction digits, the last non-zero
    bad_units.append(("too_many_fraction_digits", where(v3 == 0, concat('"', ten, '"'), ten)))
    ukey = pc.take(tables.units_keys, pa.array(chunk["ukey"]))
    return [(kind, concat(ukey, value)) for kind, value in bad_units]


def _broken_statuses(chunk: dict, tables: FragmentTables) -> list[tuple[str, object]]:
    bad_status = take(
        string_array(["600", "99", "200.5", '"abc"', '"2xx"', "true", "-1", '"20O"', "0"]), variant(chunk, 9)
    )
    close = constant_or_null(tables, "}", ~chunk["meta"])
    key = pc.take(tables.status_keys, pa.array(status_slot(chunk)))
    return [("bad_status", concat(key, bad_status, close, null_as_empty=True))]


def _broken_lines(chunk: dict, tables: FragmentTables, ctx: ChunkContext, lines: pa.Array) -> pa.Array:
    """Whole-line breakage: not JSON, truncated JSON, a JSON array, a JSON scalar."""
    mkind = chunk["mkind"]

    def on(name: str) -> np.ndarray:
        return mkind == MALFORMED_KIND_CODE[name]

    v3 = variant(chunk, 3)
    raw_acct = pc.take(ctx.account_ids, pa.array(chunk["acct"]))
    ts_text = timestamp_text(chunk, tables)
    v4 = variant(chunk, 4)
    not_json = where(
        v4 == 0,
        concat("account_id=", raw_acct, " units=1 timestamp=", ts_text),
        where(
            v4 == 1,
            concat("{'account_id': '", raw_acct, "', 'units': 1}"),
            where(
                v4 == 2, "<html><body>502 Bad Gateway</body></html>", concat("evt,", raw_acct, ",1,", ts_text)
            ),
        ),
    )
    lines = where(on("not_json"), not_json, lines)
    for i, cut in enumerate((1, 9, 25)):
        lines = where(on("truncated_json") & (v3 == i), pc.utf8_slice_codeunits(lines, 0, -cut), lines)
    lines = where(on("json_array"), concat("[", lines, "]"), lines)
    scalars = string_array(["42", "3.5", "null", "true", '"hello"'])
    scalar = where(v4 == 0, concat('"', raw_acct, '"'), take(scalars, variant(chunk, 5)))
    return where(on("json_scalar"), scalar, lines)
