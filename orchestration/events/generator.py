"""Synthetic raw usage events for the billing warehouse (CONTRACT.md section 1).

``generate_events`` writes NDJSON (optionally gzip-compressed) or Parquet files that exercise every rule
of the raw event contract (E1-E5) at realistic volume, deterministically: the same arguments give
byte-identical files.  Everything is vectorised with numpy/pyarrow (no per-row Python); lines are built in
chunks of 250k rows on two threads while a writer thread compresses/writes, so 10M events take ~20 s and
under 2 GB of memory.

What ``events`` counts
    ``events`` = distinct event lines = valid unique events + malformed lines.  Re-sends, conflicting copies
    and blank lines come on top, so the non-blank lines written are ``valid + resend + conflict + malformed``
    (the summary's ``counts`` and ``per_file`` reconcile exactly with E2/E3, see ``generate_events``).
    ``accounts`` counts known (catalog or generated) accounts; the unknown ones come on top.

Skew model
    * Accounts: Zipf weights ``1 / rank ** 1.1``.  The catalog's accounts are shuffled into the top
      ``2 x catalog size`` ranks (so the demo accounts carry traffic); the generated ``acct_NNNNNN`` fill
      the other ranks at random.  With 500 accounts the top 10 % carry about 70 % of the events.
    * Meters (from the catalog's meters.csv, with their ``aggregation`` and ``unique_field``): api_calls
      ~80 % (units absent, ``1``, ``null`` or ``"1"``, rarely 0 or a small batch), tokens ~10 % (log-normal
      integers), compute_seconds ~6 % (multiples of 0.125 or of 0.001), storage_gb ~4 % (decimals, up to 6
      fraction digits).  Other meters by aggregation: ``count`` ~2 % with arbitrary units (0, whole numbers,
      up to 3 fraction digits: the aggregation ignores them); ``unique_count`` ~3 %: over
      ``properties.<key>`` (a dotted key nests objects) each event's value comes from a per-account pool of
      3..40 JSON strings ``"u_<i>"`` (~90 %), else one of the JSON numbers ``1``, ``1.0``, ``2``, ``7.5``
      (``1`` and ``1.0`` are different values), the string ``"1"``, ``null``, no properties at all, or
      properties without the key; over ``endpoint`` the endpoints vary like api_calls'.  Any other meter
      gets ~1 % with api_calls-like units.  Units are sometimes numeric strings (``"0.125"``).  Each meter
      has its own endpoint mix (``/v1/search``, ``/v1/search?q=shoes``, ``/v1/ai/chat``, ``/v1/ai/embed``,
      ``/v1/users``, ``/v1/export``, ...); a few endpoints are absent or ``""``.  ``properties`` vary by
      meter; ~1 % of api_calls carry a note with quotes, a backslash, a tab and UTF-8 text (escaping test).
    * Batch reporters: ~15 % of the accounts (and, with ``write_catalog``, the busiest generated account on
      each usd plan) send ~80 % of their api_calls as batches of 50..1,000 units, so hard limits and caps
      are reached; the second-busiest generated account on each plan is not a batch reporter (minimums).
    * Time: days weighted by a growth trend and quieter weekends, hours by a diurnal curve peaking at
      15:00 UTC.  Timestamps are written in mixed ISO-8601 styles of the same UTC instant: ``T`` or space,
      0/3/6/9 fraction digits, ``Z``, no offset, ``+02:00``, ``+0530``, ``-07``, ``+1400``, ...
    * Event ids: ~93 % carry a unique ``event_id`` (``evt_`` + 16 hex digits), ~5 % none, ~2 % ``""``.
      Id-less events always carry microseconds, unique among id-less events, so two distinct id-less events
      never derive the same content id (not even when they differ only in the endpoint's query string).

Rates (fractions; each count is exactly ``round(rate * base)``, not a coin flip per row)
    * ``resend_rate`` (of valid events): byte-identical copies of a line, delivered later.  The original
      (earlier file, or earlier line of the same file) is the kept copy.
    * ``conflict_rate``: a second line with the same non-empty event_id and different units (+1) or a
      timestamp shifted by 1 s .. 2 h.  A backward shift makes the later line the kept one (E2: earliest
      timestamp wins); ``counts.conflict_copy_kept`` and ``per_file`` account for that.
    * ``late_rate``: valid events of month m delivered in a later month's file (needs ``months >= 2``;
      events of the last month are never late).
    * ``non2xx_rate``: status 4xx (~70 %), 5xx (~25 %) or 1xx/3xx (~5 %); the others are 200/201/202/204.
      A missing status (= 200) is only used for 200s; ~3 % of statuses are integer strings.
    * ``malformed_rate`` (of ``events``): quarantine material, one broken rule per line, evenly spread over
      ``MALFORMED_KINDS``: not JSON, truncated JSON, JSON array, JSON scalar, missing account (absent,
      ``""`` or null), missing timestamp, epoch timestamp, date-only timestamp, impossible date
      (2026-02-30, month 13, ...), negative units, non-numeric units, NaN units, boolean units, more than 9
      fraction digits, bad status (600, 99, 200.5, "abc", true, ...).  **Only NDJSON carries malformed
      lines**: with ``fmt="parquet"`` this rate is ignored (and so are ``alias_rate``/``blank_line_rate``).
    * ``alias_rate``: the account under ``customer_id``/``user_id`` (or ``"account_id":null`` followed by
      ``customer_id``), and each with probability 1/2 ``event_name``, ``quantity`` and
      ``metadata.endpoint``/``metadata.status`` instead of ``meter``, ``units``, ``endpoint``/``status_code``.
    * ``unknown_account_rate`` (of valid events): ids ``acct_unknown_NNNN`` that are not in the catalog (E5).
    * ``blank_line_rate`` (of rows): empty lines, which are not rows (E3).

Files
    ``events_<YYYY-MM>_<part>.<ext>``, named by *delivery* month.  By default part ``001`` holds a month's
    on-time events and part ``002`` the late arrivals, re-sends and conflicting copies delivered in that
    month; empty files are not written.  With ``files=N`` all lines, in delivery order, are cut into N
    equal files (parts numbered per month).  Either way names sort in delivery order and a duplicate always
    comes after its original.  Existing ``events_<YYYY-MM>_*`` files of the chosen format in ``out_dir`` are
    deleted first, so a directory never mixes two runs; other files are left alone.

Parquet columns (explicit schema ``PARQUET_SCHEMA``): ``event_id, account_id, meter, units, timestamp,
endpoint`` (strings; units as exact decimal text, timestamp as written in NDJSON), ``status_code`` (int32)
and ``properties`` (JSON text).  Absent fields are nulls; ``event_id`` may be ``""``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import gzip
import json
import queue
import shutil
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["generate_events", "MALFORMED_KINDS", "PARQUET_SCHEMA"]

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "seeds"
CHUNK_ROWS = 250_000
BUILD_THREADS = 2
ZIPF_EXPONENT = 1.1
GZIP_LEVEL = 1  # fast (~1.3x the size of level 6); gzip header without name and with mtime 0: reproducible

US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
NANO = 1_000_000_000

KIND_VALID, KIND_RESEND, KIND_CONFLICT, KIND_MALFORMED, KIND_BLANK = range(5)

MALFORMED_KINDS = (
    "not_json",
    "truncated_json",
    "json_array",
    "json_scalar",
    "missing_account",
    "missing_timestamp",
    "epoch_timestamp",
    "date_only_timestamp",
    "impossible_date",
    "negative_units",
    "non_numeric_units",
    "nan_units",
    "boolean_units",
    "too_many_fraction_digits",
    "bad_status",
)
_MK = {name: i for i, name in enumerate(MALFORMED_KINDS)}

PARQUET_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.string()),
        pa.field("account_id", pa.string()),
        pa.field("meter", pa.string()),
        pa.field("units", pa.string()),
        pa.field("timestamp", pa.string()),
        pa.field("endpoint", pa.string()),
        pa.field("status_code", pa.int32()),
        pa.field("properties", pa.string()),
    ]
)

_EXT = {"ndjson": "ndjson", "ndjson.gz": "ndjson.gz", "parquet": "parquet"}

# ----------------------------------------------------------------------------------------------------
# Static vocabularies (small tables; rows index into them)
# ----------------------------------------------------------------------------------------------------
# code 0 = endpoint absent, code 1 = ""
_ENDPOINTS: list[str | None] = [
    None,
    "",
    "/v1/search",
    "/v1/search?q=shoes",
    "/v1/search?q=red+shoes&page=2",
    "/v1/users",
    "/v1/users?limit=50",
    "/v1/orders",
    "/v1/export",
    "/v1/ai/chat",
    "/v1/ai/chat?model=large",
    "/v1/ai/embed",
    "/v1/jobs/run",
    "/v1/storage",
    "/api/v1/search",
]
_EP = {e: i for i, e in enumerate(_ENDPOINTS)}


def _j(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


_PROPS = [
    _j({"region": "us-east-1"}),
    _j({"region": "eu-west-1", "sdk": "python/1.4.2"}),
    _j({"note": 'café "quoted" \\ back\tslash', "retry": 1}),
    _j({"model": "chat-small"}),
    _j({"model": "chat-large", "cached": False}),
    _j({"model": "embed-v2"}),
    _j({"job": "export", "format": "csv"}),
    _j({"bucket": "backups"}),
]

# profile: weight, endpoint distribution, units model, properties distribution (-1 = none)
_METER_PROFILES: dict[str, dict] = {
    "api_calls": {
        "weight": 0.80,
        "endpoints": {
            None: 0.02,
            "": 0.01,
            "/v1/search": 0.25,
            "/v1/search?q=shoes": 0.08,
            "/v1/search?q=red+shoes&page=2": 0.03,
            "/v1/users": 0.15,
            "/v1/users?limit=50": 0.04,
            "/v1/orders": 0.12,
            "/v1/export": 0.05,
            "/v1/ai/chat": 0.10,
            "/v1/ai/chat?model=large": 0.02,
            "/v1/ai/embed": 0.08,
            "/api/v1/search": 0.05,
        },
        "units": "calls",
        "props": {-1: 0.85, 0: 0.10, 1: 0.04, 2: 0.01},
    },
    "tokens": {
        "weight": 0.10,
        "endpoints": {"/v1/ai/chat": 0.55, "/v1/ai/chat?model=large": 0.10, "/v1/ai/embed": 0.35},
        "units": "tokens",
        "props": {3: 0.5, 4: 0.2, 5: 0.3},
    },
    "compute_seconds": {
        "weight": 0.06,
        "endpoints": {"/v1/export": 0.40, "/v1/jobs/run": 0.55, None: 0.05},
        "units": "seconds",
        "props": {-1: 0.5, 6: 0.5},
    },
    "storage_gb": {
        "weight": 0.04,
        "endpoints": {"/v1/storage": 0.7, None: 0.3},
        "units": "gb",
        "props": {-1: 0.5, 7: 0.5},
    },
}
_OTHER_METER_WEIGHT = 0.01
# Catalog meters without a profile of their own get one by their aggregation (meters.csv).
_AGGREGATION_PROFILES: dict[str, dict] = {
    # count meters: the units are arbitrary (the aggregation ignores them)
    "count": {
        "weight": 0.02,
        "endpoints": {"/v1/export": 0.75, "/v1/jobs/run": 0.10, None: 0.15},
        "units": "arbitrary",
        "props": {-1: 0.6, 6: 0.4},
    },
    # unique_count meters: with unique_field properties.<key>, the properties come from a per-account pool
    # of values (see _UNIQUE_*); with unique_field endpoint, the endpoints vary like api_calls'
    "unique_count": {
        "weight": 0.03,
        "endpoints": {"/v1/users": 0.45, "/v1/users?limit=50": 0.10, "/v1/search": 0.15, None: 0.30},
        "units": "calls",
        "props": {-1: 0.85, 0: 0.10, 1: 0.05},
    },
}
# unique_count over properties.<key>: ~90 % of the events carry a JSON string "u_<i>" from the account's pool
# (3..40 of _UNIQUE_POOL values), the rest one of these JSON values (numbers 1 and 1.0 are different values,
# and so are 1 and "1"; null is ignored), or no value at all (no properties, or properties without the key)
_UNIQUE_POOL = 1000
_UNIQUE_SPECIAL: list[tuple[object, float]] = [
    (1, 0.015),
    (1.0, 0.015),
    (2, 0.005),
    (7.5, 0.005),
    ("1", 0.01),
    (None, 0.03),
]
_UNIQUE_NO_PROPERTIES = 0.01
_UNIQUE_OTHER_KEY = 0.01

# (suffix, minutes east of UTC, probability)
_OFFSETS = [
    ("Z", 0, 0.55),
    ("", 0, 0.10),
    ("+00:00", 0, 0.05),
    ("+02:00", 120, 0.06),
    ("-07:00", -420, 0.05),
    ("+0530", 330, 0.04),
    ("-0800", -480, 0.04),
    ("-07", -420, 0.03),
    ("+09", 540, 0.03),
    ("+05:45", 345, 0.02),
    ("-03:30", -210, 0.02),
    ("+1400", 840, 0.01),
]
_FRACTION_DIGITS = np.array([0, 3, 6, 9], dtype=np.int8)

_STATUS_2XX = ([200, 201, 202, 204], [0.90, 0.05, 0.02, 0.03])
_STATUS_4XX = ([400, 401, 403, 404, 409, 422, 429], [0.15, 0.15, 0.10, 0.25, 0.05, 0.10, 0.20])
_STATUS_5XX = ([500, 502, 503, 504], [0.5, 0.2, 0.2, 0.1])
_STATUS_OTHER = ([100, 101, 301, 302, 304], [0.1, 0.1, 0.3, 0.3, 0.2])

_ACCOUNT_KEYS = ['"account_id":', '"customer_id":', '"user_id":', '"account_id":null,"customer_id":']
_IMPOSSIBLE_MONTH_DAYS = ["02-30", "02-31", "04-31", "06-31", "09-31", "11-31", "13-01", "00-10", "01-32"]

_NULL = pa.scalar(None, pa.string())
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.string())


def _cat(*parts, null_as_empty: bool = False) -> pa.Array:
    """Concatenate string arrays/scalars element-wise (null propagates unless null_as_empty)."""
    parts = [_s(p) if isinstance(p, str) else p for p in parts]
    if null_as_empty:
        return pc.binary_join_element_wise(*parts, _s(""), null_handling="replace", null_replacement="")
    return pc.binary_join_element_wise(*parts, _s(""))


def _take(table: pa.Array, idx: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    return pc.take(table, pa.array(idx, mask=null_mask))


def _where(mask: np.ndarray, a, b) -> pa.Array:
    if not isinstance(a, (pa.Array, pa.ChunkedArray, pa.Scalar)):
        a = _s(a) if a is not None else _NULL
    if not isinstance(b, (pa.Array, pa.ChunkedArray, pa.Scalar)):
        b = _s(b) if b is not None else _NULL
    return pc.if_else(pa.array(mask, type=pa.bool_()), a, b)


def _str_array(table: list[str | None]) -> pa.Array:
    return pa.array(table, type=pa.string())


def _fixed_width_strings(data: np.ndarray) -> pa.Array:
    """(n, w) uint8 matrix -> StringArray of n strings of width w (zero-copy friendly)."""
    n, w = data.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data)))


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64 (so distinct inputs give distinct ids)."""
    z = x.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


_SHIFTS = np.arange(60, -4, -4, dtype=np.uint64)


def _hex_ids(src: np.ndarray, salt: int, prefix: bytes, suffix: bytes = b"") -> pa.Array:
    """prefix + 'evt_' + 16 hex digits + suffix for each base row index (unique per index)."""
    z = _mix64(src.astype(np.uint64) + np.uint64(salt))
    nib = ((z[:, None] >> _SHIFTS[None, :]) & np.uint64(15)).astype(np.uint8)
    head = np.frombuffer(prefix + b"evt_", dtype=np.uint8)
    tail = np.frombuffer(suffix, dtype=np.uint8)
    mat = np.empty((len(src), len(head) + 16 + len(tail)), dtype=np.uint8)
    mat[:, : len(head)] = head
    mat[:, len(head) : len(head) + 16] = _HEX[nib]
    if len(tail):
        mat[:, len(head) + 16 :] = tail
    return _fixed_width_strings(mat)


# ----------------------------------------------------------------------------------------------------
# Catalog
# ----------------------------------------------------------------------------------------------------
def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _load_catalog(catalog_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """accounts.csv, meters.csv (meter, aggregation, unique_field; first row per meter) and plans.csv."""
    accounts = _read_csv(catalog_dir / "accounts.csv")
    meters = _read_csv(catalog_dir / "meters.csv")
    for col in ("meter", "aggregation", "unique_field"):
        meters[col] = meters[col].str.strip() if col in meters else ""
    meters = meters.drop_duplicates("meter").reset_index(drop=True)
    plans = _read_csv(catalog_dir / "plans.csv") if (catalog_dir / "plans.csv").exists() else pd.DataFrame()
    if meters.empty:
        raise ValueError(f"{catalog_dir / 'meters.csv'} has no meters")
    return accounts, meters, plans


def _nest(path: list[str], value: object) -> dict:
    """{"a": {"b": value}} for the path ["a", "b"]."""
    out: object = value
    for key in reversed(path):
        out = {key: out}
    return out


def _meter_profiles(meters: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """A profile per catalog meter (its own, else its aggregation's, else api_calls-like at 1 %), and the
    properties table: the static ``_PROPS`` followed, for each unique_count meter over ``properties.<key>``,
    by a block of ``_UNIQUE_POOL`` pooled values, the ``_UNIQUE_SPECIAL`` values and one object without
    the key.  A profile's ``unique_block`` is the start of its block in that table (None = no block)."""
    table = list(_PROPS)
    profiles = []
    for m, aggregation, unique_field in meters[["meter", "aggregation", "unique_field"]].itertuples(
        index=False
    ):
        base = _METER_PROFILES.get(m) or _AGGREGATION_PROFILES.get(aggregation)
        if base is None:
            base = {**_METER_PROFILES["api_calls"], "weight": _OTHER_METER_WEIGHT}
        prof = {**base, "unique_block": None}
        if aggregation == "unique_count" and unique_field == "endpoint":
            prof["endpoints"] = _METER_PROFILES["api_calls"]["endpoints"]
        if (
            aggregation == "unique_count"
            and unique_field.startswith("properties.")
            and len(unique_field) > 11
        ):
            path = unique_field[len("properties.") :].split(".")
            prof["unique_block"] = len(table)
            table += [_j(_nest(path, f"u_{i}")) for i in range(_UNIQUE_POOL)]
            table += [_j(_nest(path, value)) for value, _ in _UNIQUE_SPECIAL]
            table.append(_j({"source": "sso"} if path[0] != "source" else {"origin": "sso"}))
        profiles.append(prof)
    return profiles, table


def _month_add(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    day = min(d.day, calendar.monthrange(y, m + 1)[1])
    return dt.date(y, m + 1, day)


def _to_us(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days * US_PER_DAY


# ----------------------------------------------------------------------------------------------------
# The generator
# ----------------------------------------------------------------------------------------------------
def generate_events(
    out_dir: Path,
    *,
    events: int,
    accounts: int,
    months: int,
    seed: int,
    start: str = "2026-01-01",
    fmt: str = "ndjson",
    files: int | None = None,
    catalog_dir: Path | None = None,
    write_catalog: Path | None = None,
    resend_rate: float = 0.01,
    conflict_rate: float = 0.002,
    late_rate: float = 0.01,
    non2xx_rate: float = 0.05,
    malformed_rate: float = 0.001,
    alias_rate: float = 0.05,
    unknown_account_rate: float = 0.002,
    blank_line_rate: float = 0.0005,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write synthetic raw usage events to ``out_dir`` (see the module docstring) and return a summary:

    * ``files``: written paths (as strings) in name = delivery order; ``rows_per_file``: path -> rows
      (non-blank lines); ``per_file``: path -> ``lines, rows, blank, valid, duplicate, conflict, malformed``
      following E2/E3 (``valid`` = kept copies in that file; ``conflict`` counts duplicates whose content
      differs from the kept copy; ``rows = valid + duplicate + malformed``).
    * ``counts``: ``rows`` (= valid + duplicate + malformed), ``lines`` (= rows + blank), ``valid`` (unique
      valid events), ``duplicate`` (= resend + conflict), ``resend``, ``conflict``, ``conflict_copy_kept``
      (conflicts where the later line is the kept one), ``malformed``, ``blank``, ``late``, and, among valid
      unique events, ``unknown_account``, ``test_account``, ``aliased``, ``without_event_id``,
      ``empty_event_id``, ``non2xx``.
    * ``malformed_by_kind`` (``MALFORMED_KINDS`` -> count), ``accounts_known``, ``accounts_generated``,
      ``unknown_account_ids``, ``format``, ``seed``, ``out_dir``, ``start``, ``end`` (exclusive, ISO dates)
      and ``catalog`` (the ``write_catalog`` path or None).

    ``write_catalog``: a copy of every file of ``catalog_dir`` with accounts.csv/account_plans.csv extended
    (original rows kept byte for byte) by the generated accounts: usd, anchor day 1 (40 %) or 1..28, a usd
    plan from plans.csv starting at ``start`` (85 %) or up to 4 weeks later; 12 % change plan on a day other
    than the 1st, 3 % end their plan (valid_to exclusive, no overlaps).  Events before an account's
    valid_from are therefore realistic ``outside_plan`` usage.  The 2 busiest generated accounts per usd
    plan keep that plan over the whole range (see "Batch reporters").  credit_grants.csv (created with the
    contract's header if missing) gets 1-3 grants ``gr_<NNNNNN>_<k>`` for ~30 % of the generated accounts
    (see ``_write_grants``).
    """
    say = progress or (lambda _msg: None)
    if fmt not in _EXT:
        raise ValueError(f"fmt must be one of {sorted(_EXT)}, got {fmt!r}")
    if events < 0 or accounts < 1 or months < 1:
        raise ValueError("need events >= 0, accounts >= 1, months >= 1")
    if files is not None and files < 1:
        raise ValueError("files must be >= 1")
    for name, rate in [
        ("resend_rate", resend_rate),
        ("conflict_rate", conflict_rate),
        ("late_rate", late_rate),
        ("non2xx_rate", non2xx_rate),
        ("malformed_rate", malformed_rate),
        ("alias_rate", alias_rate),
        ("unknown_account_rate", unknown_account_rate),
        ("blank_line_rate", blank_line_rate),
    ]:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {rate}")
    parquet = fmt == "parquet"
    if parquet:
        malformed_rate = alias_rate = blank_line_rate = 0.0

    out_dir = Path(out_dir)
    catalog_dir = Path(catalog_dir) if catalog_dir is not None else DEFAULT_CATALOG
    cat_accounts, cat_meters, cat_plans = _load_catalog(catalog_dir)
    profiles, props_table = _meter_profiles(cat_meters)
    rng = np.random.default_rng(seed)
    salt = int((seed * 0x632BE59BD9B4E019 + 0x9E3779B97F4A7C15) % 2**64)

    start_date = dt.date.fromisoformat(start)
    end_date = _month_add(start_date, months)
    start_us, end_us = _to_us(start_date), _to_us(end_date)
    n_days = (end_date - start_date).days
    month0 = start_date.year * 12 + start_date.month - 1
    last_month = end_date.year * 12 + end_date.month - 1 - month0 - (1 if end_date.day == 1 else 0)
    n_cal = last_month + 1
    month_start_us = np.array(
        [start_us]
        + [_to_us(dt.date((month0 + k) // 12, (month0 + k) % 12 + 1, 1)) for k in range(1, n_cal)]
        + [end_us],
        dtype=np.int64,
    )

    # ---- accounts --------------------------------------------------------------------------------
    say("accounts")
    acc = _account_pool(cat_accounts, accounts, rng)
    heavy = _heavy_accounts(acc, len(_usd_plans(cat_plans)), rng)
    n_known = len(acc["ids"])
    n_unknown_pool = int(min(1000, max(3, accounts // 100)))
    catalog_ids = set(cat_accounts["account_id"])
    unknown_ids = []
    k = 1
    while len(unknown_ids) < n_unknown_pool:
        cand = f"acct_unknown_{k:04d}"
        if cand not in catalog_ids:
            unknown_ids.append(cand)
        k += 1
    acct_raw = pa.concat_arrays([acc["ids"], _str_array(unknown_ids)])
    n_cat = len(acc["catalog_chosen"])
    acct_json = pa.concat_arrays(
        [  # catalog ids may need escaping; generated ids are plain ASCII
            _str_array([_j(a) for a in acc["catalog_chosen"]]),
            _cat('"', acct_raw[n_cat:], '"'),
        ]
    )

    meters = cat_meters["meter"].tolist()
    meter_w = np.array([prof["weight"] for prof in profiles])
    meter_w = meter_w / meter_w.sum()
    default_meter = meters.index("api_calls") if "api_calls" in meters else -1

    # ---- counts ----------------------------------------------------------------------------------
    n = int(events)
    n_mal = int(round(malformed_rate * n))
    n_valid = n - n_mal
    n_unknown = int(round(unknown_account_rate * n_valid))

    # ---- base rows -------------------------------------------------------------------------------
    say(f"sampling {n:,} events")
    b = _base_rows(
        rng,
        n,
        n_mal,
        n_valid,
        n_unknown,
        n_known,
        n_unknown_pool,
        acc["account_of_rank"],
        np.concatenate([heavy["batch"], np.zeros(n_unknown_pool, bool)]),
        meters,
        profiles,
        meter_w,
        default_meter,
        start_us,
        end_us,
        n_days,
        non2xx_rate,
        alias_rate,
    )
    ts_month = _month_index(b["ts"], month_start_us)

    # late events: valid, from a month before the last one, delivered in a later month
    late_cand = np.flatnonzero((b["kind"] == KIND_VALID) & (ts_month < last_month))
    n_late = int(min(len(late_cand), round(late_rate * n_valid)))
    late_idx = np.sort(rng.choice(late_cand, size=n_late, replace=False)) if n_late else np.empty(0, np.int64)

    # duplicates: disjoint sources
    valid_idx = np.flatnonzero(b["kind"] == KIND_VALID)
    n_res = int(round(resend_rate * n_valid))
    n_con_target = int(round(conflict_rate * n_valid))
    perm = rng.permutation(valid_idx) if (n_res or n_con_target) else valid_idx[:0]
    res_src = np.sort(perm[:n_res])
    rest = perm[n_res:]
    rest = rest[b["idstyle"][rest] == 0]  # conflicts need a real event_id
    con_src = np.sort(rest[: min(n_con_target, len(rest))])
    n_res, n_con = len(res_src), len(con_src)

    # conflict payloads: half different units, half shifted timestamp (may move earlier -> copy is kept)
    con = _conflict_payload(rng, b, con_src, start_us, end_us)

    # ---- delivery times, file layout -------------------------------------------------------------
    say("ordering and file layout")
    n_rows = n + n_res + n_con
    n_blank = int(round(blank_line_rate * n_rows))
    total = n_rows + n_blank
    src = np.concatenate([np.arange(n, dtype=np.int64), res_src, con_src, np.zeros(n_blank, np.int64)])
    kind = np.concatenate(
        [
            b["kind"],
            np.full(n_res, KIND_RESEND, np.int8),
            np.full(n_con, KIND_CONFLICT, np.int8),
            np.full(n_blank, KIND_BLANK, np.int8),
        ]
    )
    deliv = _delivery(
        rng,
        b["ts"],
        ts_month,
        late_idx,
        res_src,
        con_src,
        n_blank,
        month_start_us,
        last_month,
        start_us,
        end_us,
    )
    deliv_month = _month_index(deliv, month_start_us)
    late_mask = np.zeros(n, bool)
    late_mask[late_idx] = True
    part2 = np.concatenate([late_mask, np.ones(n_res + n_con, bool), np.zeros(n_blank, bool)])
    del late_mask

    ext = _EXT[fmt]
    if files is None:
        fkey = deliv_month.astype(np.int64) * 2 + part2
        order = np.argsort((fkey << 46) | (deliv - start_us), kind="stable")
        sorted_keys = fkey[order]
        keys, starts = np.unique(sorted_keys, return_index=True)
        bounds = np.append(starts, total)
        names = [f"events_{_ym(month0 + int(key) // 2)}_{int(key) % 2 + 1:03d}.{ext}" for key in keys]
        del sorted_keys, fkey
    else:
        order = np.argsort(deliv - start_us, kind="stable")
        cut = (np.arange(files + 1, dtype=np.int64) * total) // files
        cut = np.unique(cut)
        bounds = cut
        names, seen = [], {}
        for i in range(len(cut) - 1):
            ym = _ym(month0 + int(deliv_month[order[cut[i]]]))
            seen[ym] = seen.get(ym, 0) + 1
            names.append(f"events_{ym}_{seen[ym]:03d}.{ext}")
    del deliv, deliv_month, part2

    # per-row bookkeeping for the reconciliation summary
    file_of_pos = np.repeat(np.arange(len(names)), np.diff(bounds))
    file_of_row = np.empty(total, np.int32)
    file_of_row[order] = file_of_pos
    del file_of_pos
    dup = np.zeros(total, bool)
    dup[n : n + n_res] = True
    conflict_dup = np.zeros(total, bool)
    copy_kept = con["ts"] < b["ts"][con_src]
    # conflicting copy kept -> the original line is the duplicate
    con_rows = np.arange(n + n_res, n + n_res + n_con)
    dup[con_rows[~copy_kept]] = True
    conflict_dup[con_rows[~copy_kept]] = True
    dup[con_src[copy_kept]] = True
    conflict_dup[con_src[copy_kept]] = True

    nf = len(names)
    per_file = {}
    kinds_per_file = np.bincount(file_of_row.astype(np.int64) * 5 + kind, minlength=nf * 5).reshape(nf, 5)
    dup_per_file = np.bincount(file_of_row[dup], minlength=nf)
    cdup_per_file = np.bincount(file_of_row[conflict_dup], minlength=nf)
    del file_of_row, dup, conflict_dup

    # ---- write -----------------------------------------------------------------------------------
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in sorted(out_dir.glob(f"events_*.{ext}")):
        if old.is_file() and old.name[7:14].replace("-", "").isdigit():
            old.unlink()
    ctx = {
        "b": b,
        "src": src,
        "kind": kind,
        "con": con,
        "n": n,
        "n_res": n_res,
        "salt": salt,
        "acct_raw": acct_raw,
        "acct_json": acct_json,
        "meters": meters,
        "start_us": start_us,
        "tables": _tables(start_date, end_date, meters, props_table),
    }
    paths = [out_dir / name for name in names]
    writer = _Writer()
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
                        pending.append(("put", pool.submit(_build_chunk, ctx, rows, parquet)))
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

    # ---- catalog copy ----------------------------------------------------------------------------
    if write_catalog is not None:
        say(f"writing catalog to {write_catalog}")
        _write_catalog(
            catalog_dir, Path(write_catalog), acc, heavy, cat_accounts, cat_plans, rng, start_date, end_date
        )

    for fi, path in enumerate(paths):
        kc = kinds_per_file[fi]
        rows_f = int(kc[KIND_VALID] + kc[KIND_RESEND] + kc[KIND_CONFLICT] + kc[KIND_MALFORMED])
        per_file[str(path)] = {
            "lines": int(kc.sum()),
            "rows": rows_f,
            "blank": int(kc[KIND_BLANK]),
            "valid": int(rows_f - kc[KIND_MALFORMED] - dup_per_file[fi]),
            "duplicate": int(dup_per_file[fi]),
            "conflict": int(cdup_per_file[fi]),
            "malformed": int(kc[KIND_MALFORMED]),
        }

    valid_rows = b["kind"] == KIND_VALID
    mal_rows = b["kind"] == KIND_MALFORMED
    counts = {
        "rows": n_rows,
        "lines": total,
        "valid": n_valid,
        "duplicate": n_res + n_con,
        "resend": n_res,
        "conflict": n_con,
        "conflict_copy_kept": int(copy_kept.sum()),
        "malformed": n_mal,
        "blank": n_blank,
        "late": n_late,
        "unknown_account": int((valid_rows & (b["acct"] >= n_known)).sum()),
        "test_account": int(np.isin(b["acct"][valid_rows], acc["test_idx"]).sum()),
        "aliased": int((valid_rows & (b["akey"] > 0)).sum()),
        "without_event_id": int((valid_rows & (b["idstyle"] == 1)).sum()),
        "empty_event_id": int((valid_rows & (b["idstyle"] == 2)).sum()),
        "non2xx": int((valid_rows & ((b["status"] < 200) | (b["status"] > 299))).sum()),
    }
    mk = np.bincount(b["mkind"][mal_rows].astype(np.int64), minlength=len(MALFORMED_KINDS))
    return {
        "format": fmt,
        "seed": seed,
        "out_dir": str(out_dir),
        "start": start_date.isoformat(),
        "end": end_date.isoformat(),
        "files": [str(p) for p in paths],
        "rows_per_file": {str(p): per_file[str(p)]["rows"] for p in paths},
        "per_file": per_file,
        "counts": counts,
        "malformed_by_kind": {name: int(mk[i]) for i, name in enumerate(MALFORMED_KINDS)},
        "accounts_known": n_known,
        "accounts_generated": int(acc["n_generated"]),
        "unknown_account_ids": unknown_ids,
        "catalog": str(write_catalog) if write_catalog is not None else None,
    }


def _ym(month_number: int) -> str:
    return f"{month_number // 12:04d}-{month_number % 12 + 1:02d}"


def _month_index(ts_us: np.ndarray, month_start_us: np.ndarray) -> np.ndarray:
    """Calendar month of each timestamp, counted from the range's first month (ts inside the range)."""
    return (np.searchsorted(month_start_us[1:-1], ts_us, side="right")).astype(np.int32)


def _account_pool(cat: pd.DataFrame, accounts: int, rng: np.random.Generator) -> dict:
    is_test = cat["is_test"].str.strip().str.lower().isin(["true", "1", "t", "yes"])
    non_test = cat.loc[~is_test, "account_id"].tolist()
    tests = cat.loc[is_test, "account_id"].tolist()
    if accounts <= len(cat):
        n_test = min(len(tests), max(0, accounts - 1))
        chosen = non_test[: accounts - n_test] + tests[:n_test]
        n_gen = 0
    else:
        chosen = non_test + tests
        n_gen = accounts - len(chosen)
    taken = set(cat["account_id"])
    # generated ids acct_000001..; skip any id the catalog already uses
    gen = np.arange(1, n_gen + 1 + len(taken), dtype=np.int64)
    gen_ids = _cat("acct_", pc.utf8_lpad(pc.cast(pa.array(gen), pa.string()), width=6, padding="0"))
    if taken:
        gen_ids = gen_ids.filter(pc.invert(pc.is_in(gen_ids, value_set=_str_array(sorted(taken)))))
    gen_ids = gen_ids[:n_gen]
    ids = pa.concat_arrays(
        [_str_array(chosen), gen_ids.combine_chunks() if hasattr(gen_ids, "chunks") else gen_ids]
    )
    # Zipf weights; catalog accounts shuffled into the top ranks
    a_total = len(ids)
    k_cat = len(chosen)
    top = min(a_total, 2 * k_cat)
    cat_ranks = np.sort(rng.choice(top, size=k_cat, replace=False)) if k_cat else np.empty(0, np.int64)
    rank_of = np.empty(a_total, np.int64)
    rank_of[rng.permutation(k_cat)] = cat_ranks
    free = np.setdiff1d(np.arange(a_total), cat_ranks)
    rank_of[k_cat:] = rng.permutation(free)
    account_of_rank = np.empty(a_total, np.int32)
    account_of_rank[rank_of] = np.arange(a_total, dtype=np.int32)
    test_idx = np.array([chosen.index(t) for t in tests if t in chosen], dtype=np.int64)
    return {
        "ids": ids,
        "account_of_rank": account_of_rank,
        "test_idx": test_idx,
        "n_generated": n_gen,
        "catalog_chosen": chosen,
    }


def _usd_plans(cat_plans: pd.DataFrame) -> list[str]:
    currency = cat_plans.get("currency", pd.Series(dtype=str)).str.strip().str.lower()
    return cat_plans.loc[currency == "usd", "plan_id"].tolist()


def _heavy_accounts(acc: dict, n_plans: int, rng: np.random.Generator) -> dict:
    """Which accounts report api_calls in batches, and the plans of the busiest generated accounts.

    ~15 % of the accounts are batch reporters.  The 2 x ``n_plans`` busiest generated accounts are paired,
    each pair on one usd plan (in a random order) for the whole range, the busier of the two a batch
    reporter and the other not: every plan then bills a heavy account (hard limits and caps are reached)
    and a lighter one (minimums apply).  ``forced_plan``: usd plan index per generated account, -1 = drawn
    in ``_write_catalog``."""
    n_known = len(acc["ids"])
    n_cat = len(acc["catalog_chosen"])
    batch = rng.random(n_known) < 0.15
    forced = np.full(acc["n_generated"], -1, np.int64)
    if n_plans and acc["n_generated"]:
        rank_of = np.empty(n_known, np.int64)
        rank_of[acc["account_of_rank"]] = np.arange(n_known)
        busiest = n_cat + np.argsort(rank_of[n_cat:], kind="stable")[: 2 * n_plans]
        order = rng.permutation(n_plans)
        forced[busiest - n_cat] = order[np.arange(len(busiest)) // 2]
        batch[busiest] = np.arange(len(busiest)) % 2 == 0
    return {"batch": batch, "forced_plan": forced}


def _choice(rng: np.random.Generator, values, probs, size: int, dtype=np.int64) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    return np.asarray(values, dtype=dtype)[rng.choice(len(p), size=size, p=p / p.sum())]


def _zipf_ranks(rng: np.random.Generator, n_ranks: int, size: int, s: float = ZIPF_EXPONENT) -> np.ndarray:
    """Ranks 0..n_ranks-1 with P(rank r) ~ (r + 1) ** -s: inverse transform of the continuous power law on
    [1, n_ranks + 1), floored (O(1) per draw, unlike a search in a table of n_ranks weights)."""
    tail = (n_ranks + 1.0) ** (1.0 - s)
    x = (1.0 - rng.random(size) * (1.0 - tail)) ** (1.0 / (1.0 - s))
    return np.minimum(x.astype(np.int64) - 1, n_ranks - 1).clip(0)


def _base_rows(
    rng,
    n,
    n_mal,
    n_valid,
    n_unknown,
    n_known,
    n_unknown_pool,
    account_of_rank,
    batch,
    meters,
    profiles,
    meter_w,
    default_meter,
    start_us,
    end_us,
    n_days,
    non2xx_rate,
    alias_rate,
) -> dict:
    b: dict[str, np.ndarray] = {}
    kind = np.full(n, KIND_VALID, np.int8)
    mal_idx = rng.choice(n, size=n_mal, replace=False) if n_mal else np.empty(0, np.int64)
    kind[mal_idx] = KIND_MALFORMED
    b["kind"] = kind
    mkind = np.full(n, -1, np.int8)
    mkind[mal_idx] = rng.integers(0, len(MALFORMED_KINDS), size=n_mal)
    b["mkind"] = mkind
    b["mvar"] = rng.integers(0, 2**15, size=n, dtype=np.int16)

    # accounts: Zipf over known accounts; a few rows for unknown accounts
    acct = account_of_rank[_zipf_ranks(rng, n_known, n)]
    valid_idx = np.flatnonzero(kind == KIND_VALID)
    if n_unknown:
        unk = rng.choice(valid_idx, size=n_unknown, replace=False)
        acct[unk] = n_known + rng.integers(0, n_unknown_pool, size=n_unknown)
    b["acct"] = acct

    # meters, endpoints, units, properties
    meter = rng.choice(len(meters), size=n, p=meter_w).astype(np.int16)
    ep = np.zeros(n, np.int16)
    units = np.full(n, NANO, np.int64)
    ustyle = np.ones(n, np.int8)  # 0 absent, 1 number, 2 string, 3 null
    props = np.full(n, -1, np.int32)
    for mi, prof in enumerate(profiles):
        rows = np.flatnonzero(meter == mi)
        k = len(rows)
        if not k:
            continue
        eps = prof["endpoints"]
        ep[rows] = _choice(rng, [_EP[e] for e in eps], list(eps.values()), k, np.int16)
        pr = prof["props"]
        props[rows] = _choice(rng, list(pr), list(pr.values()), k, np.int32)
        if prof["unique_block"] is not None:
            props[rows] = _unique_props(rng, acct[rows], prof["unique_block"])
        model = prof["units"]
        if model == "calls":
            v = np.where(rng.random(k) < 0.975, 1, np.where(rng.random(k) < 0.2, 0, rng.integers(2, 11, k)))
            if mi == default_meter:  # batch reporters send most of their calls in batches of 50..1,000
                in_batch = batch[acct[rows]] & (rng.random(k) < 0.8)
                v = np.where(in_batch, rng.integers(50, 1001, k), v)
            units[rows] = v * NANO
            st = _choice(rng, [0, 1, 3, 2], [0.55, 0.38, 0.02, 0.05], k, np.int8)
            if mi != default_meter:
                st[st == 0] = 1  # absent units are fine, but keep non-default meters explicit mostly
            st[(v != 1) & ((st == 0) | (st == 3))] = 1  # absent/null means 1
        elif model == "tokens":
            v = np.clip(np.rint(np.exp(rng.normal(6.5, 1.3, k))), 1, 200_000).astype(np.int64)
            units[rows] = v * NANO
            st = _choice(rng, [1, 2], [0.93, 0.07], k, np.int8)
        elif model == "seconds":
            eighths = np.clip(np.rint(np.exp(rng.normal(2.0, 1.2, k))), 1, 80_000).astype(np.int64)
            millis = np.clip(np.rint(np.exp(rng.normal(6.5, 1.5, k))), 1, 10_000_000).astype(np.int64)
            units[rows] = np.where(rng.random(k) < 0.6, eighths * (NANO // 8), millis * (NANO // 1000))
            st = _choice(rng, [1, 2], [0.9, 0.1], k, np.int8)
        elif model == "arbitrary":  # count meters: 0, whole numbers up to 1,000 or up to 3 fraction digits
            whole = np.clip(np.rint(np.exp(rng.normal(1.5, 1.5, k))), 0, 1000).astype(np.int64)
            millis = rng.integers(0, 1_000_000, k)
            v = np.where(rng.random(k) < 0.7, whole * NANO, millis * (NANO // 1000))
            units[rows] = np.where(rng.random(k) < 0.05, 0, v)
            st = _choice(rng, [1, 2], [0.85, 0.15], k, np.int8)
        else:  # gb: up to 6 fraction digits
            micro = np.clip(np.rint(np.exp(rng.normal(15.0, 1.8, k))), 1, 10**13).astype(np.int64)
            digits = rng.integers(0, 7, k)
            q = 10 ** (6 - digits)
            micro = np.maximum(micro - micro % q, q)
            units[rows] = micro * 1000
            st = _choice(rng, [1, 2], [0.9, 0.1], k, np.int8)
        ustyle[rows] = st
    b["meter"], b["ep"], b["units"], b["ustyle"], b["props"] = meter, ep, units, ustyle, props
    # meter key: 0 "meter", 1 "event_name", 2 absent (only for the default meter)
    mkey = np.zeros(n, np.int8)
    if default_meter >= 0:
        mkey[(meter == default_meter) & (rng.random(n) < 0.3)] = 2

    # timestamps: day (trend + weekday) x hour (diurnal) x uniform inside the hour
    days = np.arange(n_days)
    weekday = (np.arange(n_days) + (start_us // US_PER_DAY + 3)) % 7  # 0 = Monday
    dw = (1.0 + 0.3 * days / max(n_days, 1)) * np.where(weekday >= 5, 0.65, 1.0)
    hours = np.arange(24)
    hw = 0.3 + np.exp(-((((hours - 15 + 12) % 24 - 12) / 4.5) ** 2))
    cell_w = (dw[:, None] * hw[None, :]).ravel()
    day, hour = np.divmod(rng.choice(n_days * 24, size=n, p=cell_w / cell_w.sum()), 24)
    ts = start_us + day * US_PER_DAY + hour * 3_600 * US_PER_S + rng.integers(0, 3_600 * US_PER_S, size=n)
    ts = np.minimum(ts, end_us - 2 * US_PER_S)
    off_p = np.array([o[2] for o in _OFFSETS])
    b["off"] = rng.choice(len(_OFFSETS), size=n, p=off_p / off_p.sum()).astype(np.int8)
    b["sep"] = (rng.random(n) < 0.15).astype(np.int8)
    fd = rng.choice(4, size=n, p=[0.5, 0.3, 0.15, 0.05]).astype(np.int8)  # index into _FRACTION_DIGITS

    # event ids: 0 present, 1 absent, 2 ""
    idstyle = rng.choice(3, size=n, p=[0.93, 0.05, 0.02]).astype(np.int8)
    idless = (idstyle > 0) & (kind == KIND_VALID)
    fd[idless & (fd < 2)] += 2  # id-less events keep full microseconds (unique derived ids)
    digits = _FRACTION_DIGITS[fd]
    ts -= np.where(digits == 0, ts % US_PER_S, np.where(digits == 3, ts % 1000, 0))
    # make microsecond timestamps unique among id-less events (shift by a few us at most)
    sel = np.flatnonzero(idless)
    if len(sel) > 1:
        t = ts[sel]
        o = np.argsort(t, kind="stable")
        ar = np.arange(len(t))
        t_sorted = np.maximum.accumulate(t[o] - ar) + ar
        t[o] = t_sorted
        ts[sel] = t
    b["ts"], b["fd"], b["idstyle"] = ts, fd, idstyle

    # status codes: 0 absent (only for 200), 1 integer, 2 integer string
    non2 = rng.random(n) < non2xx_rate
    status = _choice(rng, *_STATUS_2XX, n, np.int16)
    if non2.any():
        k = int(non2.sum())
        grp = rng.random(k)
        s4 = _choice(rng, *_STATUS_4XX, k, np.int16)
        s5 = _choice(rng, *_STATUS_5XX, k, np.int16)
        so = _choice(rng, *_STATUS_OTHER, k, np.int16)
        status[non2] = np.where(grp < 0.70, s4, np.where(grp < 0.95, s5, so))
    sstyle = _choice(rng, [1, 0, 2], [0.87, 0.10, 0.03], n, np.int8)
    sstyle[(sstyle == 0) & (status != 200)] = 1
    b["status"], b["sstyle"] = status, sstyle

    # aliases (per row; each aliasable field aliased with probability 1/2, the account always)
    aliased = rng.random(n) < alias_rate
    akey = np.zeros(n, np.int8)
    k = int(aliased.sum())
    ukey = np.zeros(n, np.int8)
    meta = np.zeros(n, bool)
    if k:
        akey[aliased] = _choice(rng, [1, 2, 3], [0.45, 0.45, 0.10], k, np.int8)
        mk_alias = aliased & (mkey == 0) & (rng.random(n) < 0.5)
        mkey[mk_alias] = 1
        ukey[aliased & (rng.random(n) < 0.5)] = 1
        meta = aliased & (rng.random(n) < 0.5)
    b["akey"], b["mkey"], b["ukey"], b["meta"] = akey, mkey, ukey, meta
    return b


def _unique_props(rng: np.random.Generator, acct: np.ndarray, block: int) -> np.ndarray:
    """Properties codes for events of a unique_count meter over properties.<key> (see _UNIQUE_*): each
    account draws from its own pool of 3..40 consecutive "u_<i>" values (a fixed function of the account)."""
    k = len(acct)
    a = acct.astype(np.int64)
    size = 3 + (a * 7919) % 38
    pooled = block + ((a * 104729) % _UNIQUE_POOL + (rng.random(k) * size).astype(np.int64)) % _UNIQUE_POOL
    n_special = len(_UNIQUE_SPECIAL)
    special_p = [p for _, p in _UNIQUE_SPECIAL]
    rest = 1.0 - sum(special_p) - _UNIQUE_NO_PROPERTIES - _UNIQUE_OTHER_KEY
    kind = _choice(
        rng, np.arange(n_special + 3), [rest, *special_p, _UNIQUE_NO_PROPERTIES, _UNIQUE_OTHER_KEY], k
    )
    # kind 0: pooled; 1..n_special: a special value; n_special + 1: no properties; n_special + 2: other key
    special = block + _UNIQUE_POOL + np.minimum(kind - 1, n_special)
    out = np.where(kind == 0, pooled, special)
    return np.where(kind == n_special + 1, -1, out).astype(np.int32)


def _conflict_payload(rng, b, con_src, start_us, end_us) -> dict:
    k = len(con_src)
    units = b["units"][con_src].copy()
    ustyle = b["ustyle"][con_src].copy()
    ts = b["ts"][con_src].copy()
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


def _delivery(
    rng, ts, ts_month, late_idx, res_src, con_src, n_blank, month_start_us, last_month, start_us, end_us
) -> np.ndarray:
    n = len(ts)
    month_end = month_start_us[ts_month + 1] - 1
    base = np.minimum(ts + rng.integers(0, 120 * US_PER_S, size=n), month_end)
    if len(late_idx):
        lm = ts_month[late_idx]
        k = np.minimum(lm + 1 + (rng.random(len(late_idx)) < 0.2), last_month)
        span = np.minimum(month_start_us[k + 1] - month_start_us[k], 10 * US_PER_DAY)
        base[late_idx] = month_start_us[k] + (rng.random(len(late_idx)) * span).astype(np.int64)
    parts = [base]
    for s in (res_src, con_src):
        mean = np.where(rng.random(len(s)) < 0.2, 10 * US_PER_DAY, 1.5 * US_PER_DAY)
        delay = US_PER_S + (rng.exponential(1.0, len(s)) * mean).astype(np.int64)
        parts.append(np.minimum(base[s] + delay, end_us - 1))
    parts.append(start_us + (rng.random(n_blank) * (end_us - start_us)).astype(np.int64))
    return np.concatenate(parts)


# ----------------------------------------------------------------------------------------------------
# Chunk -> text.  A line is one element-wise concatenation of ~20 "pieces", each a lookup in a small table of
# pre-rendered JSON fragments (key + value), a cast or a constant; a null piece contributes nothing, so an
# absent member is a null piece.  Tables are JSON-encoded once with json.dumps (correct escaping).
# ----------------------------------------------------------------------------------------------------
_STATUS_CODES = np.array(
    sorted({*_STATUS_2XX[0], *_STATUS_4XX[0], *_STATUS_5XX[0], *_STATUS_OTHER[0]}), dtype=np.int16
)


def _tables(start_date: dt.date, end_date: dt.date, meters: list[str], props_table: list[str]) -> dict:
    day0 = (start_date - dt.date(1970, 1, 1)).days - 2
    n_days = (end_date - start_date).days + 4
    dates = np.datetime_as_string(np.arange(day0, day0 + n_days).astype("datetime64[D]")).tolist()
    hms = np.datetime_as_string(np.arange(86_400).astype("datetime64[s]"))
    three = pc.utf8_lpad(pc.cast(pa.array(np.arange(1000)), pa.string()), width=3, padding="0")
    ep_json = [None if e is None else _j(e) for e in _ENDPOINTS]
    st_keys = [',"status_code":', ',"status":', '"status":']
    status = []
    for slot, key in enumerate(st_keys):
        for style in (1, 2):
            for code in _STATUS_CODES.tolist():
                value = str(code) if style == 1 else f'"{code}"'
                status.append(key + value + ("}" if slot else ""))
    status.append("}")  # metadata without status
    return {
        "day0": day0,
        "n_days": n_days,
        "dates": _str_array(dates),
        "ts_date": _str_array([',"timestamp":"' + d + sep for sep in ("T", " ") for d in dates]),
        "hms": pc.utf8_slice_codeunits(pa.array(hms.tolist(), pa.string()), 11, 19),
        "three": three,
        "dot3": _cat(".", three),
        "suffix_q": _str_array([o[0] + '"' for o in _OFFSETS]),
        "suffix": _str_array([o[0] for o in _OFFSETS]),
        "sep": _str_array(["T", " "]),
        "off_us": np.array([o[1] for o in _OFFSETS], dtype=np.int64) * 60 * US_PER_S,
        "n_meters": len(meters),
        "meter": _str_array([key + _j(m) for key in (',"meter":', ',"event_name":') for m in meters]),
        "meter_raw": _str_array(meters),
        "units_open": _str_array([k + v for k in (',"units":', ',"quantity":') for v in ("", '"', "null")]),
        "units_key": _str_array([',"units":', ',"quantity":']),
        "n_ep": len(_ENDPOINTS),
        "ep": _str_array(
            [None if j is None else ',"endpoint":' + j for j in ep_json]
            + [None if j is None else ',"metadata":{"endpoint":' + j for j in ep_json]
            + [',"metadata":{'] * len(ep_json)
        ),
        "ep_raw": _str_array(_ENDPOINTS),
        "status": _str_array(status),
        "st_key": _str_array(st_keys),
        "props": _str_array([',"properties":' + p for p in props_table]),
        "props_raw": _str_array(props_table),
        "acct_key": _str_array(["{" + key for key in _ACCOUNT_KEYS]),
        "acct_key_comma": _str_array(["," + key for key in _ACCOUNT_KEYS]),
        "impossible": _str_array(_IMPOSSIBLE_MONTH_DAYS),
        "digits19": _str_array(list("123456789")),
        "one": {t: _str_array([t]) for t in ['"', ".", "}"]},
    }


def _const(T: dict, text: str, null_mask: np.ndarray) -> pa.Array:
    """``text`` where null_mask is False, null elsewhere."""
    return _take(T["one"][text], np.zeros(len(null_mask), np.int8), null_mask)


def _gather(ctx: dict, rows: np.ndarray) -> dict:
    b, n, n_res = ctx["b"], ctx["n"], ctx["n_res"]
    s = ctx["src"][rows]
    c = {k: v[s] for k, v in b.items()}
    c["src"] = s
    c["kind"] = ctx["kind"][rows]
    is_con = c["kind"] == KIND_CONFLICT
    if is_con.any():
        j = rows[is_con] - n - n_res
        con = ctx["con"]
        c["units"][is_con] = con["units"][j]
        c["ustyle"][is_con] = con["ustyle"][j]
        c["ts"][is_con] = con["ts"][j]
    return c


def _subset(c: dict, mask: np.ndarray) -> dict:
    return {k: v[mask] for k, v in c.items()}


def _ts_pieces(c: dict, T: dict, member: bool) -> list:
    """Timestamp in the row's style (local wall time + offset suffix); as a JSON member or as bare text."""
    local = c["ts"] + T["off_us"][c["off"]]
    digits = _FRACTION_DIGITS[c["fd"]]
    day = local // US_PER_DAY - T["day0"]
    if member:
        head = [pc.take(T["ts_date"], pa.array(c["sep"] * T["n_days"] + day))]
    else:
        head = [pc.take(T["dates"], pa.array(day)), pc.take(T["sep"], pa.array(c["sep"]))]
    return head + [
        pc.take(T["hms"], pa.array((local // US_PER_S) % 86_400)),
        _take(T["dot3"], (local // 1000) % 1000, digits == 0),
        _take(T["three"], local % 1000, digits < 6),
        _take(T["three"], (c["src"] * 7919 + 13) % 1000, digits < 9),
        pc.take(T["suffix_q" if member else "suffix"], pa.array(c["off"])),
    ]


def _ts_text(c: dict, T: dict) -> pa.Array:
    return _cat(*_ts_pieces(c, T, member=False), null_as_empty=True)


def _units_pieces(nano: np.ndarray, T: dict, null_mask: np.ndarray) -> list:
    """Exact decimal text of nano-units (trailing zeros trimmed) as pieces; null where null_mask."""
    ip_t = pc.cast(pa.array(nano // NANO, mask=null_mask), pa.string())
    fr = nano % NANO
    frac = (fr != 0) & ~null_mask
    if not frac.any():
        return [ip_t]
    fr_t = pc.utf8_lpad(pc.cast(pa.array(fr, mask=~frac), pa.string()), width=9, padding="0")
    return [ip_t, _const(T, ".", ~frac), pc.utf8_rtrim(fr_t, characters="0")]


def _units_text(nano: np.ndarray, T: dict) -> pa.Array:
    return _cat(*_units_pieces(nano, T, np.zeros(len(nano), bool)), null_as_empty=True)


def _status_slot(c: dict) -> np.ndarray:
    return np.where(c["meta"], np.where(c["ep"] != 0, 1, 2), 0)


def _groups(c: dict, T: dict, ctx: dict, account_first: bool) -> dict[str, list]:
    """The pieces of each JSON member, in line order.  With ``account_first`` the account member opens the
    object (``{`` included); otherwise every member starts with a comma and the caller drops the first one."""
    g: dict[str, list] = {}
    acct = [
        pc.take(T["acct_key" if account_first else "acct_key_comma"], pa.array(c["akey"])),
        pc.take(ctx["acct_json"], pa.array(c["acct"])),
    ]
    if account_first:
        g["account"] = acct
    ids = c["idstyle"]
    eid = _hex_ids(c["src"], ctx["salt"], b',"event_id":"', b'"')
    if (ids != 0).any():
        eid = _where(ids == 0, eid, _where(ids == 2, ',"event_id":""', None))
    g["event_id"] = [eid]
    if not account_first:
        g["account"] = acct
    mkey = c["mkey"]
    g["meter"] = [_take(T["meter"], np.minimum(mkey, 1) * T["n_meters"] + c["meter"], mkey == 2)]
    us = c["ustyle"]
    no_num = (us == 0) | (us == 3)
    g["units"] = [
        _take(T["units_open"], c["ukey"] * 3 + np.maximum(us - 1, 0), us == 0),
        *_units_pieces(c["units"], T, no_num),
        _const(T, '"', us != 2),
    ]
    g["timestamp"] = _ts_pieces(c, T, member=True)
    meta = c["meta"]
    has_ep = c["ep"] != 0
    n_ep = T["n_ep"]
    ep_idx = np.where(meta, np.where(has_ep, n_ep + c["ep"], 2 * n_ep), c["ep"])
    g["endpoint"] = [_take(T["ep"], ep_idx, ~meta & ~has_ep)]
    ss = c["sstyle"]
    k = len(_STATUS_CODES)
    code = np.searchsorted(_STATUS_CODES, c["status"])
    st_idx = np.where(ss == 0, 6 * k, (_status_slot(c) * 2 + np.maximum(ss - 1, 0)) * k + code)
    g["status"] = [_take(T["status"], st_idx, (ss == 0) & ~meta)]
    no_props = c["props"] < 0
    g["properties"] = [_take(T["props"], np.maximum(c["props"], 0), no_props)]
    return g


def _variant(c: dict, k: int) -> np.ndarray:
    return c["mvar"].astype(np.int64) % k


def _malformed_lines(c: dict, T: dict, ctx: dict) -> pa.Array:
    """Lines for the malformed rows of a chunk (few): the row's normal line with one rule broken."""
    mk = c["mkind"]

    def on(name: str) -> np.ndarray:
        return mk == _MK[name]

    g = {k: _cat(*v, null_as_empty=True) for k, v in _groups(c, T, ctx, account_first=False).items()}

    def put(member: str, mask: np.ndarray, value) -> None:
        g[member] = _where(mask, value, g[member])

    ts_us = c["ts"]
    v3 = _variant(c, 3)
    put(
        "account",
        on("missing_account"),
        _take(_str_array([None, ',"account_id":""', ',"account_id":null']), v3, v3 == 0),
    )
    date = pc.take(T["dates"], pa.array(ts_us // US_PER_DAY - T["day0"]))
    hms = pc.take(T["hms"], pa.array((ts_us // US_PER_S) % 86_400))
    imp = _take(T["impossible"], _variant(c, len(_IMPOSSIBLE_MONTH_DAYS)))
    epoch = _where(
        v3 == 0,
        pc.cast(pa.array(ts_us // 1000), pa.string()),
        pc.cast(pa.array(ts_us // US_PER_S), pa.string()),
    )
    put("timestamp", on("epoch_timestamp"), _cat(',"timestamp":', epoch))
    put("timestamp", on("date_only_timestamp"), _cat(',"timestamp":"', date, '"'))
    put(
        "timestamp",
        on("impossible_date"),
        _cat(',"timestamp":"', pc.utf8_slice_codeunits(date, 0, 4), "-", imp, "T", hms, 'Z"'),
    )
    put("timestamp", on("missing_timestamp"), None)

    units = c["units"]
    ukey = pc.take(T["units_key"], pa.array(c["ukey"]))
    bad_units = [
        ("negative_units", _cat("-", _units_text(np.where(units > 0, units, NANO), T))),
        (
            "non_numeric_units",
            _take(_str_array(['"ten"', '"1,5"', '"12 units"', '"abc"', '"1.2.3"']), _variant(c, 5)),
        ),
        ("nan_units", _take(_str_array(["NaN", '"NaN"']), _variant(c, 2))),
        ("boolean_units", _take(_str_array(["true", "false"]), _variant(c, 2))),
    ]
    ip = pc.cast(pa.array(units // NANO), pa.string())
    fr = pc.utf8_lpad(pc.cast(pa.array(units % NANO), pa.string()), width=9, padding="0")
    ten = _cat(ip, ".", fr, _take(T["digits19"], _variant(c, 9)))  # 10 fraction digits, the last non-zero
    bad_units.append(("too_many_fraction_digits", _where(v3 == 0, _cat('"', ten, '"'), ten)))
    for name, value in bad_units:
        put("units", on(name), _cat(ukey, value))
    bad_status = _take(
        _str_array(["600", "99", "200.5", '"abc"', '"2xx"', "true", "-1", '"20O"', "0"]), _variant(c, 9)
    )
    close = _const(T, "}", ~c["meta"])
    put(
        "status",
        on("bad_status"),
        _cat(pc.take(T["st_key"], pa.array(_status_slot(c))), bad_status, close, null_as_empty=True),
    )

    body = _cat(*g.values(), null_as_empty=True)
    lines = _cat("{", pc.utf8_slice_codeunits(body, 1), "}")

    # whole-line breakage
    raw_acct = pc.take(ctx["acct_raw"], pa.array(c["acct"]))
    ts_text = _ts_text(c, T)
    v4 = _variant(c, 4)
    not_json = _where(
        v4 == 0,
        _cat("account_id=", raw_acct, " units=1 timestamp=", ts_text),
        _where(
            v4 == 1,
            _cat("{'account_id': '", raw_acct, "', 'units': 1}"),
            _where(
                v4 == 2, "<html><body>502 Bad Gateway</body></html>", _cat("evt,", raw_acct, ",1,", ts_text)
            ),
        ),
    )
    lines = _where(on("not_json"), not_json, lines)
    for i, cut in enumerate((1, 9, 25)):
        lines = _where(on("truncated_json") & (v3 == i), pc.utf8_slice_codeunits(lines, 0, -cut), lines)
    lines = _where(on("json_array"), _cat("[", lines, "]"), lines)
    scalars = _str_array(["42", "3.5", "null", "true", '"hello"'])
    scalar = _where(v4 == 0, _cat('"', raw_acct, '"'), _take(scalars, _variant(c, 5)))
    return _where(on("json_scalar"), scalar, lines)


def _build_chunk(ctx: dict, rows: np.ndarray, parquet: bool):
    T = ctx["tables"]
    c = _gather(ctx, rows)
    if parquet:
        return _parquet_table(c, T, ctx)
    groups = _groups(c, T, ctx, account_first=True)
    out = _cat(*[p for ps in groups.values() for p in ps], "}\n", null_as_empty=True)
    mal = c["kind"] == KIND_MALFORMED
    if mal.any():
        bad = _cat(_malformed_lines(_subset(c, mal), T, ctx), "\n")
        out = pc.replace_with_mask(out, pa.array(mal), bad)
    blank = c["kind"] == KIND_BLANK
    if blank.any():
        out = _where(blank, "\n", out)
    offsets = np.frombuffer(out.buffers()[1], dtype=np.int32, count=len(out) + 1, offset=out.offset * 4)
    return memoryview(out.buffers()[2])[offsets[0] : offsets[-1]]


def _parquet_table(c: dict, T: dict, ctx: dict) -> pa.Table:
    ids = c["idstyle"]
    eid = _hex_ids(c["src"], ctx["salt"], b"")
    eid = _where(ids == 0, eid, _where(ids == 2, "", None))
    us = c["ustyle"]
    no_units = (us == 0) | (us == 3)
    return pa.table(
        {
            "event_id": eid,
            "account_id": pc.take(ctx["acct_raw"], pa.array(c["acct"])),
            "meter": _take(T["meter_raw"], c["meter"], c["mkey"] == 2),
            "units": _where(no_units, None, _units_text(c["units"], T)),
            "timestamp": _ts_text(c, T),
            "endpoint": pc.take(T["ep_raw"], pa.array(c["ep"])),
            "status_code": pa.array(c["status"].astype(np.int32), mask=c["sstyle"] == 0),
            "properties": _take(T["props_raw"], np.maximum(c["props"], 0), c["props"] < 0),
        },
        schema=PARQUET_SCHEMA,
    )


# ----------------------------------------------------------------------------------------------------
# Output (a writer thread overlaps compression / IO with building the next chunk)
# ----------------------------------------------------------------------------------------------------
class _Writer:
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


# ----------------------------------------------------------------------------------------------------
# Catalog copy with the generated accounts
# ----------------------------------------------------------------------------------------------------
def _append_csv(path: Path, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    data = path.read_bytes()
    with open(path, "ab") as fh:
        if data and not data.endswith(b"\n"):
            fh.write(b"\n")
        fh.write(frame.to_csv(index=False, header=False, lineterminator="\n").encode())


def _write_catalog(
    catalog_dir: Path,
    target: Path,
    acc: dict,
    heavy: dict,
    cat_accounts: pd.DataFrame,
    cat_plans: pd.DataFrame,
    rng: np.random.Generator,
    start_date: dt.date,
    end_date: dt.date,
) -> None:
    if target.resolve() == catalog_dir.resolve():
        raise ValueError("write_catalog must differ from catalog_dir (the copy is extended in place)")
    target.mkdir(parents=True, exist_ok=True)
    for item in sorted(catalog_dir.iterdir()):
        if item.is_dir():
            shutil.copytree(item, target / item.name, dirs_exist_ok=True)
        else:
            shutil.copyfile(item, target / item.name)
    n_gen = acc["n_generated"]
    if not n_gen:
        return
    gen_ids = np.array(acc["ids"][len(acc["catalog_chosen"]) :].to_pylist(), dtype=object)
    plans = _usd_plans(cat_plans)
    if not plans:
        raise ValueError(f"{catalog_dir / 'plans.csv'} has no usd plan for the generated accounts")

    anchor = np.where(rng.random(n_gen) < 0.4, 1, rng.integers(1, 29, n_gen))
    cols = list(cat_accounts.columns)
    numbers = pd.Series(gen_ids).str.slice(5)
    acc_rows = pd.DataFrame({c: [""] * n_gen for c in cols})
    acc_rows["account_id"] = gen_ids
    if "account_name" in cols:
        acc_rows["account_name"] = ("Customer " + numbers).to_numpy()
    acc_rows["currency"] = "usd"
    if "billing_anchor_day" in cols:
        acc_rows["billing_anchor_day"] = anchor.astype(str)
    if "is_test" in cols:
        acc_rows["is_test"] = "false"
    _append_csv(target / "accounts.csv", acc_rows[cols])

    # plan history: most start at the range start, some sign up later, some change plan mid-month, a few churn
    n_days = (end_date - start_date).days
    forced = heavy["forced_plan"]
    p_idx = np.where(forced >= 0, forced, rng.integers(0, len(plans), n_gen))
    late_start = (rng.random(n_gen) < 0.15) & (forced < 0)
    vf_off = np.where(late_start, rng.integers(1, max(2, min(28, n_days)), n_gen), 0)
    change = (rng.random(n_gen) < 0.12) & (forced < 0)
    churn = (~change) & (rng.random(n_gen) < 0.03) & (forced < 0)
    ch_off = vf_off + rng.integers(1, max(2, n_days), n_gen)
    start_days = np.datetime64(start_date.isoformat(), "D")
    vf = start_days + vf_off
    ch = start_days + ch_off
    ch_day = (ch - ch.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    ch = np.where(ch_day == 1, ch + 1, ch)  # mid-month, never on the 1st
    valid_change = (change | churn) & (ch < np.datetime64(end_date.isoformat(), "D"))
    second = (p_idx + rng.integers(1, max(2, len(plans)), n_gen)) % len(plans) if len(plans) > 1 else p_idx
    vf_s = pd.Series(np.datetime_as_string(vf)).to_numpy()
    ch_s = pd.Series(np.datetime_as_string(ch)).to_numpy()
    plan_arr = np.array(plans, dtype=object)
    first = pd.DataFrame(
        {
            "account_id": gen_ids,
            "plan_id": plan_arr[p_idx],
            "valid_from": vf_s,
            "valid_to": np.where(valid_change, ch_s, ""),
            "_order": np.arange(n_gen) * 2,
        }
    )
    sel = valid_change & change
    nxt = pd.DataFrame(
        {
            "account_id": gen_ids[sel],
            "plan_id": plan_arr[second[sel]],
            "valid_from": ch_s[sel],
            "valid_to": "",
            "_order": np.flatnonzero(sel) * 2 + 1,
        }
    )
    hist = pd.concat([first, nxt]).sort_values("_order", kind="stable").drop(columns="_order")
    plan_cols = list(_read_csv(catalog_dir / "account_plans.csv").columns)
    for col in plan_cols:
        if col not in hist:
            hist[col] = ""
    _append_csv(target / "account_plans.csv", hist[plan_cols])
    _write_grants(catalog_dir, target, gen_ids, anchor, rng, start_date, end_date)


GRANT_COLUMNS = ["grant_id", "account_id", "amount", "effective_at", "expires_at"]


def _write_grants(
    catalog_dir: Path,
    target: Path,
    gen_ids: np.ndarray,
    anchor: np.ndarray,
    rng: np.random.Generator,
    start_date: dt.date,
    end_date: dt.date,
) -> None:
    """credit_grants.csv: 1-3 grants for ~30 % of the generated accounts (P11).  Amounts 2..400 (log-uniform, so
    many are used up) with 2, 3 or 4 decimals; effective at the range start (40 %) or on a day inside the range; expiring never (35 %), on the
    account's anchor day one or two periods after taking effect (35 %, i.e. exactly on a period boundary), or
    10..90 days after taking effect (30 %, mostly mid-period).  The catalog's own grants are kept."""
    path = target / "credit_grants.csv"
    if not path.exists():
        path.write_text(",".join(GRANT_COLUMNS) + "\n")
    existing = _read_csv(path)
    n_gen = len(gen_ids)
    per_account = np.where(rng.random(n_gen) < 0.3, rng.integers(1, 4, n_gen), 0)
    owner = np.repeat(np.arange(n_gen), per_account)
    n = len(owner)
    if not n:
        return
    nth = np.arange(n) - np.repeat(np.cumsum(per_account) - per_account, per_account) + 1
    owners = pd.Series(gen_ids[owner])
    grant_ids = ("gr_" + owners.str.slice(5) + "_" + pd.Series(nth).astype(str)).to_numpy()  # gr_000042_1

    n_days = (end_date - start_date).days
    start_d = np.datetime64(start_date.isoformat(), "D")
    effective = start_d + np.where(rng.random(n) < 0.4, 0, rng.integers(0, max(1, n_days), n))
    # the first anchor day strictly after effective_at, plus 0 or 1 month: a period boundary of the account
    a = anchor[owner].astype(np.int64)
    eff_month = effective.astype("datetime64[M]")
    eff_day = (effective - eff_month.astype("datetime64[D]")).astype(np.int64) + 1
    months = (eff_day >= a).astype(np.int64) + rng.integers(0, 2, n)
    boundary = (eff_month + months).astype("datetime64[D]") + (a - 1)
    later = effective + rng.integers(10, 91, n)
    style = rng.choice(3, size=n, p=[0.35, 0.35, 0.30])
    expires = np.where(style == 1, boundary, later)
    expires_s = np.where(style == 0, "", np.datetime_as_string(expires))

    # amount = minor / 10**decimals, written with exactly `decimals` fraction digits (e.g. 25.125, 40.10)
    decimals = rng.integers(2, 5, n)
    scale = 10**decimals
    minor = (np.exp(rng.uniform(np.log(2), np.log(400), n)) * scale).astype(np.int64)  # log-uniform 2..400
    four = pd.Series((minor % scale) * 10 ** (4 - decimals)).astype(str).str.zfill(4)
    frac = four.copy()
    for d in (2, 3):
        frac[decimals == d] = four[decimals == d].str.slice(0, d)
    amount = pd.Series(minor // scale).astype(str) + "." + frac
    rows = pd.DataFrame(
        {
            "grant_id": grant_ids,
            "account_id": gen_ids[owner],
            "amount": amount.to_numpy(),
            "effective_at": np.datetime_as_string(effective),
            "expires_at": expires_s,
        }
    )
    rows = rows[~rows["grant_id"].isin(set(existing.get("grant_id", pd.Series(dtype=str))))]
    cols = list(existing.columns) or GRANT_COLUMNS
    for col in cols:
        if col not in rows:
            rows[col] = ""
    _append_csv(path, rows[cols])
