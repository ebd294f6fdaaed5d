"""The traffic model: who sends which usage, when, and how each event is spelled (see the package docstring,
"Skew model").  ``sample_base_rows`` draws one row per distinct event as numpy arrays; the delivery faults
(``faults``) and the line encoding (``encoding``) work from those arrays.

A base row is a set of equal-length arrays, one per field:

* ``kind`` (``KIND_VALID`` or ``KIND_MALFORMED``), ``mkind`` (index into ``MALFORMED_KINDS``, -1 if valid),
  ``mvar`` (a random 15-bit number choosing among a malformed kind's variants);
* ``acct`` (account index: known accounts first, then the unknown-id pool);
* ``meter`` (index into the catalog's meters), ``mkey`` (the meter's key: 0 ``meter``, 1 ``event_name``,
  2 absent), ``ep`` (index into ``ENDPOINTS``), ``props`` (index into the properties table, -1 = none);
* ``units`` (exact units in billionths), ``ustyle`` (0 absent, 1 number, 2 string, 3 null), ``ukey``
  (0 ``units``, 1 ``quantity``);
* ``ts`` (UTC microseconds), ``off`` (index into ``UTC_OFFSETS``), ``sep`` (0 ``T``, 1 space), ``fd``
  (index into ``FRACTION_DIGITS``);
* ``idstyle`` (event_id: 0 present, 1 absent, 2 ``""``);
* ``status``, ``sstyle`` (0 absent, only for 200; 1 integer; 2 integer string);
* ``akey`` (index into ``ACCOUNT_KEYS``), ``meta`` (endpoint and status under ``metadata``).
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import NamedTuple

import numpy as np

from orchestration.generator.strings import json_text

ZIPF_EXPONENT = 1.1
US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
NANO = 1_000_000_000  # units are held as integers in billionths

# what a line is: a valid event, a re-send or a conflicting copy of one, a malformed line, a blank line
KIND_VALID, KIND_RESEND, KIND_CONFLICT, KIND_MALFORMED, KIND_BLANK = range(5)

# one broken rule per malformed line (see faults.malformed_lines)
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

# ----------------------------------------------------------------------------------------------------
# Static vocabularies (small tables; rows index into them)
# ----------------------------------------------------------------------------------------------------
# code 0 = endpoint absent, code 1 = ""
ENDPOINTS: list[str | None] = [
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
ENDPOINT_CODE = {e: i for i, e in enumerate(ENDPOINTS)}

PROPERTIES = [
    json_text({"region": "us-east-1"}),
    json_text({"region": "eu-west-1", "sdk": "python/1.4.2"}),
    json_text({"note": 'café "quoted" \\ back\tslash', "retry": 1}),
    json_text({"model": "chat-small"}),
    json_text({"model": "chat-large", "cached": False}),
    json_text({"model": "embed-v2"}),
    json_text({"job": "export", "format": "csv"}),
    json_text({"bucket": "backups"}),
]

# profile: weight, endpoint distribution, units model, properties distribution (-1 = none)
METER_PROFILES: dict[str, dict] = {
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
OTHER_METER_WEIGHT = 0.01
# Catalog meters without a profile of their own get one by their aggregation (meters.csv).
AGGREGATION_PROFILES: dict[str, dict] = {
    # count meters: the units are arbitrary (the aggregation ignores them)
    "count": {
        "weight": 0.02,
        "endpoints": {"/v1/export": 0.75, "/v1/jobs/run": 0.10, None: 0.15},
        "units": "arbitrary",
        "props": {-1: 0.6, 6: 0.4},
    },
    # unique_count meters: with unique_field properties.<key>, the properties come from a per-account pool
    # of values (see UNIQUE_*); with unique_field endpoint, the endpoints vary like api_calls'
    "unique_count": {
        "weight": 0.03,
        "endpoints": {"/v1/users": 0.45, "/v1/users?limit=50": 0.10, "/v1/search": 0.15, None: 0.30},
        "units": "calls",
        "props": {-1: 0.85, 0: 0.10, 1: 0.05},
    },
}
# unique_count over properties.<key>: ~90 % of the events carry a JSON string "u_<i>" from the account's pool
# (3..40 of UNIQUE_POOL values), the rest one of these JSON values (numbers 1 and 1.0 are different values,
# and so are 1 and "1"; null is ignored), or no value at all (no properties, or properties without the key)
UNIQUE_POOL = 1000
UNIQUE_SPECIAL_VALUES: list[tuple[object, float]] = [
    (1, 0.015),
    (1.0, 0.015),
    (2, 0.005),
    (7.5, 0.005),
    ("1", 0.01),
    (None, 0.03),
]
UNIQUE_NO_PROPERTIES = 0.01
UNIQUE_OTHER_KEY = 0.01

# (suffix, minutes east of UTC, probability)
UTC_OFFSETS = [
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
FRACTION_DIGITS = np.array([0, 3, 6, 9], dtype=np.int8)

STATUS_2XX = ([200, 201, 202, 204], [0.90, 0.05, 0.02, 0.03])
STATUS_4XX = ([400, 401, 403, 404, 409, 422, 429], [0.15, 0.15, 0.10, 0.25, 0.05, 0.10, 0.20])
STATUS_5XX = ([500, 502, 503, 504], [0.5, 0.2, 0.2, 0.1])
STATUS_OTHER = ([100, 101, 301, 302, 304], [0.1, 0.1, 0.3, 0.3, 0.2])

ACCOUNT_KEYS = ['"account_id":', '"customer_id":', '"user_id":', '"account_id":null,"customer_id":']


def add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    day = min(d.day, calendar.monthrange(y, m + 1)[1])
    return dt.date(y, m + 1, day)


def date_to_us(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days * US_PER_DAY


def year_month(month_number: int) -> str:
    return f"{month_number // 12:04d}-{month_number % 12 + 1:02d}"


def month_index(ts_us: np.ndarray, month_start_us: np.ndarray) -> np.ndarray:
    """Calendar month of each timestamp, counted from the range's first month (ts inside the range)."""
    return (np.searchsorted(month_start_us[1:-1], ts_us, side="right")).astype(np.int32)


def heavy_accounts(
    account_of_rank: np.ndarray, n_catalog: int, n_generated: int, n_plans: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Which accounts report api_calls in batches, and the plans of the busiest generated accounts.

    ~15 % of the accounts are batch reporters.  The 2 x ``n_plans`` busiest generated accounts are paired,
    each pair on one usd plan (in a random order) for the whole range, the busier of the two a batch
    reporter and the other not: every plan then bills a heavy account (hard limits and caps are reached)
    and a lighter one (minimums apply).  Returns the batch reporter flag per known account and the forced
    plan: usd plan index per generated account, -1 = drawn in ``catalog.write_catalog_copy``."""
    n_known = len(account_of_rank)
    n_cat = n_catalog
    batch = rng.random(n_known) < 0.15
    forced = np.full(n_generated, -1, np.int64)
    if n_plans and n_generated:
        rank_of = np.empty(n_known, np.int64)
        rank_of[account_of_rank] = np.arange(n_known)
        busiest = n_cat + np.argsort(rank_of[n_cat:], kind="stable")[: 2 * n_plans]
        order = rng.permutation(n_plans)
        forced[busiest - n_cat] = order[np.arange(len(busiest)) // 2]
        batch[busiest] = np.arange(len(busiest)) % 2 == 0
    return batch, forced


def choice(rng: np.random.Generator, values, probs, size: int, dtype=np.int64) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    return np.asarray(values, dtype=dtype)[rng.choice(len(p), size=size, p=p / p.sum())]


def zipf_ranks(rng: np.random.Generator, n_ranks: int, size: int, s: float = ZIPF_EXPONENT) -> np.ndarray:
    """Ranks 0..n_ranks-1 with P(rank r) ~ (r + 1) ** -s: inverse transform of the continuous power law on
    [1, n_ranks + 1), floored (O(1) per draw, unlike a search in a table of n_ranks weights)."""
    tail = (n_ranks + 1.0) ** (1.0 - s)
    x = (1.0 - rng.random(size) * (1.0 - tail)) ** (1.0 / (1.0 - s))
    return np.minimum(x.astype(np.int64) - 1, n_ranks - 1).clip(0)


class DateRange(NamedTuple):
    """The generated range ``[start_date, end_date)`` and its calendar months (counted from the first)."""

    start_date: dt.date
    end_date: dt.date
    start_us: int
    end_us: int
    n_days: int
    first_month: int  # year * 12 + month - 1 of the start date
    last_month: int  # index of the range's last calendar month
    month_start_us: np.ndarray  # start of each calendar month (the first clipped to start_us), then end_us


def date_range(start: str, months: int) -> DateRange:
    start_date = dt.date.fromisoformat(start)
    end_date = add_months(start_date, months)
    start_us, end_us = date_to_us(start_date), date_to_us(end_date)
    first_month = start_date.year * 12 + start_date.month - 1
    last_month = end_date.year * 12 + end_date.month - 1 - first_month - (1 if end_date.day == 1 else 0)
    month_start_us = np.array(
        [start_us]
        + [
            date_to_us(dt.date((first_month + k) // 12, (first_month + k) % 12 + 1, 1))
            for k in range(1, last_month + 1)
        ]
        + [end_us],
        dtype=np.int64,
    )
    return DateRange(
        start_date,
        end_date,
        start_us,
        end_us,
        (end_date - start_date).days,
        first_month,
        last_month,
        month_start_us,
    )


class MeterMix(NamedTuple):
    """The catalog's meters with their profiles (see ``catalog.meter_profiles``) and normalised weights."""

    names: list[str]
    profiles: list[dict]
    weights: np.ndarray
    default_meter: int  # index of api_calls (batches, absent meter key), -1 if the catalog has none


class AccountMix(NamedTuple):
    """Who sends the events: the known accounts by Zipf rank, then a pool of unknown ids."""

    account_of_rank: np.ndarray  # known account index at each Zipf rank
    is_batch_reporter: np.ndarray  # per account index (known, then unknown ids: never)
    n_known: int
    n_unknown_pool: int


def sample_base_rows(
    rng: np.random.Generator,
    n: int,
    n_malformed: int,
    n_unknown: int,
    accounts: AccountMix,
    meters: MeterMix,
    dates: DateRange,
    non2xx_rate: float,
    alias_rate: float,
) -> dict[str, np.ndarray]:
    """One row per distinct event (see the module docstring for the fields).  The draws happen in a fixed
    order, so a seed always gives the same rows."""
    rows = _sample_kinds(rng, n, n_malformed)
    rows["acct"] = _sample_accounts(rng, rows["kind"], n_unknown, accounts)
    rows.update(_sample_meters(rng, rows["acct"], accounts.is_batch_reporter, meters))
    # meter key: 0 "meter", 1 "event_name", 2 absent (only for the default meter)
    mkey = np.zeros(n, np.int8)
    if meters.default_meter >= 0:
        mkey[(rows["meter"] == meters.default_meter) & (rng.random(n) < 0.3)] = 2
    rows.update(_sample_timestamps_and_ids(rng, rows["kind"], dates))
    rows.update(_sample_statuses(rng, n, non2xx_rate))
    rows.update(_sample_aliases(rng, mkey, alias_rate))
    return rows


def _sample_kinds(rng: np.random.Generator, n: int, n_malformed: int) -> dict[str, np.ndarray]:
    kind = np.full(n, KIND_VALID, np.int8)
    mal_idx = rng.choice(n, size=n_malformed, replace=False) if n_malformed else np.empty(0, np.int64)
    kind[mal_idx] = KIND_MALFORMED
    mkind = np.full(n, -1, np.int8)
    mkind[mal_idx] = rng.integers(0, len(MALFORMED_KINDS), size=n_malformed)
    mvar = rng.integers(0, 2**15, size=n, dtype=np.int16)
    return {"kind": kind, "mkind": mkind, "mvar": mvar}


def _sample_accounts(
    rng: np.random.Generator, kind: np.ndarray, n_unknown: int, accounts: AccountMix
) -> np.ndarray:
    """Zipf over the known accounts; ``n_unknown`` valid rows for ids of the unknown pool."""
    acct = accounts.account_of_rank[zipf_ranks(rng, accounts.n_known, len(kind))]
    valid_idx = np.flatnonzero(kind == KIND_VALID)
    if n_unknown:
        unk = rng.choice(valid_idx, size=n_unknown, replace=False)
        acct[unk] = accounts.n_known + rng.integers(0, accounts.n_unknown_pool, size=n_unknown)
    return acct


def _sample_meters(
    rng: np.random.Generator, acct: np.ndarray, is_batch_reporter: np.ndarray, meters: MeterMix
) -> dict[str, np.ndarray]:
    """Meter, endpoint, properties and units of each row, by its meter's profile."""
    n = len(acct)
    meter = rng.choice(len(meters.names), size=n, p=meters.weights).astype(np.int16)
    ep = np.zeros(n, np.int16)
    units = np.full(n, NANO, np.int64)
    ustyle = np.ones(n, np.int8)  # 0 absent, 1 number, 2 string, 3 null
    props = np.full(n, -1, np.int32)
    for mi, prof in enumerate(meters.profiles):
        rows = np.flatnonzero(meter == mi)
        k = len(rows)
        if not k:
            continue
        eps = prof["endpoints"]
        ep[rows] = choice(rng, [ENDPOINT_CODE[e] for e in eps], list(eps.values()), k, np.int16)
        pr = prof["props"]
        props[rows] = choice(rng, list(pr), list(pr.values()), k, np.int32)
        if prof["unique_block"] is not None:
            props[rows] = unique_properties(rng, acct[rows], prof["unique_block"])
        batch = is_batch_reporter[acct[rows]] if mi == meters.default_meter else None
        units[rows], ustyle[rows] = _UNITS_MODELS[prof["units"]](rng, k, batch)
    return {"meter": meter, "ep": ep, "units": units, "ustyle": ustyle, "props": props}


def _call_units(rng: np.random.Generator, k: int, batch_reporter: np.ndarray | None):
    """api_calls-like: mostly 1 (absent, 1, null or "1"), rarely 0 or a small batch.  ``batch_reporter`` is
    given for the default meter only: batch reporters send most of their calls in batches of 50..1,000."""
    v = np.where(rng.random(k) < 0.975, 1, np.where(rng.random(k) < 0.2, 0, rng.integers(2, 11, k)))
    if batch_reporter is not None:
        in_batch = batch_reporter & (rng.random(k) < 0.8)
        v = np.where(in_batch, rng.integers(50, 1001, k), v)
    style = choice(rng, [0, 1, 3, 2], [0.55, 0.38, 0.02, 0.05], k, np.int8)
    if batch_reporter is None:
        style[style == 0] = 1  # absent units are fine, but keep non-default meters explicit mostly
    style[(v != 1) & ((style == 0) | (style == 3))] = 1  # absent/null means 1
    return v * NANO, style


def _token_units(rng: np.random.Generator, k: int, _batch_reporter=None):
    v = np.clip(np.rint(np.exp(rng.normal(6.5, 1.3, k))), 1, 200_000).astype(np.int64)
    return v * NANO, choice(rng, [1, 2], [0.93, 0.07], k, np.int8)


def _second_units(rng: np.random.Generator, k: int, _batch_reporter=None):
    """Multiples of 0.125 (60 %) or of 0.001."""
    eighths = np.clip(np.rint(np.exp(rng.normal(2.0, 1.2, k))), 1, 80_000).astype(np.int64)
    millis = np.clip(np.rint(np.exp(rng.normal(6.5, 1.5, k))), 1, 10_000_000).astype(np.int64)
    units = np.where(rng.random(k) < 0.6, eighths * (NANO // 8), millis * (NANO // 1000))
    return units, choice(rng, [1, 2], [0.9, 0.1], k, np.int8)


def _arbitrary_units(rng: np.random.Generator, k: int, _batch_reporter=None):
    """count meters: 0, whole numbers up to 1,000 or up to 3 fraction digits (the aggregation ignores them)."""
    whole = np.clip(np.rint(np.exp(rng.normal(1.5, 1.5, k))), 0, 1000).astype(np.int64)
    millis = rng.integers(0, 1_000_000, k)
    v = np.where(rng.random(k) < 0.7, whole * NANO, millis * (NANO // 1000))
    units = np.where(rng.random(k) < 0.05, 0, v)
    return units, choice(rng, [1, 2], [0.85, 0.15], k, np.int8)


def _gigabyte_units(rng: np.random.Generator, k: int, _batch_reporter=None):
    """Decimals with up to 6 fraction digits."""
    micro = np.clip(np.rint(np.exp(rng.normal(15.0, 1.8, k))), 1, 10**13).astype(np.int64)
    digits = rng.integers(0, 7, k)
    q = 10 ** (6 - digits)
    micro = np.maximum(micro - micro % q, q)
    return micro * 1000, choice(rng, [1, 2], [0.9, 0.1], k, np.int8)


# a profile's "units" model -> (rng, rows, batch reporter flags or None) -> (units in billionths, style)
_UNITS_MODELS = {
    "calls": _call_units,
    "tokens": _token_units,
    "seconds": _second_units,
    "arbitrary": _arbitrary_units,
    "gb": _gigabyte_units,
}


def _sample_timestamps_and_ids(
    rng: np.random.Generator, kind: np.ndarray, dates: DateRange
) -> dict[str, np.ndarray]:
    """Timestamps: day (trend + weekday) x hour (diurnal) x uniform inside the hour, each with an offset,
    a separator and 0/3/6/9 fraction digits; and the event id style, since id-less events keep full
    microseconds, unique among them (so their derived content ids are unique too)."""
    n = len(kind)
    ts = _sample_instants(rng, n, dates)
    off_p = np.array([o[2] for o in UTC_OFFSETS])
    off = rng.choice(len(UTC_OFFSETS), size=n, p=off_p / off_p.sum()).astype(np.int8)
    sep = (rng.random(n) < 0.15).astype(np.int8)
    fd = rng.choice(4, size=n, p=[0.5, 0.3, 0.15, 0.05]).astype(np.int8)  # index into FRACTION_DIGITS

    # event ids: 0 present, 1 absent, 2 ""
    idstyle = rng.choice(3, size=n, p=[0.93, 0.05, 0.02]).astype(np.int8)
    idless = (idstyle > 0) & (kind == KIND_VALID)
    fd[idless & (fd < 2)] += 2  # id-less events keep full microseconds (unique derived ids)
    digits = FRACTION_DIGITS[fd]
    ts -= np.where(digits == 0, ts % US_PER_S, np.where(digits == 3, ts % 1000, 0))
    _make_unique(ts, np.flatnonzero(idless))
    return {"ts": ts, "off": off, "sep": sep, "fd": fd, "idstyle": idstyle}


def _sample_instants(rng: np.random.Generator, n: int, dates: DateRange) -> np.ndarray:
    """UTC microseconds: days weighted by a growth trend and quieter weekends, hours by a diurnal curve
    peaking at 15:00 UTC, uniform inside the hour."""
    n_days = dates.n_days
    days = np.arange(n_days)
    weekday = (np.arange(n_days) + (dates.start_us // US_PER_DAY + 3)) % 7  # 0 = Monday
    day_weight = (1.0 + 0.3 * days / max(n_days, 1)) * np.where(weekday >= 5, 0.65, 1.0)
    hours = np.arange(24)
    hour_weight = 0.3 + np.exp(-((((hours - 15 + 12) % 24 - 12) / 4.5) ** 2))
    cell_w = (day_weight[:, None] * hour_weight[None, :]).ravel()
    day, hour = np.divmod(rng.choice(n_days * 24, size=n, p=cell_w / cell_w.sum()), 24)
    ts = (
        dates.start_us
        + day * US_PER_DAY
        + hour * 3_600 * US_PER_S
        + rng.integers(0, 3_600 * US_PER_S, size=n)
    )
    return np.minimum(ts, dates.end_us - 2 * US_PER_S)


def _make_unique(ts: np.ndarray, sel: np.ndarray) -> None:
    """Make ``ts[sel]`` unique in place, shifting by a few microseconds at most."""
    if len(sel) > 1:
        t = ts[sel]
        o = np.argsort(t, kind="stable")
        ar = np.arange(len(t))
        t_sorted = np.maximum.accumulate(t[o] - ar) + ar
        t[o] = t_sorted
        ts[sel] = t


def _sample_statuses(rng: np.random.Generator, n: int, non2xx_rate: float) -> dict[str, np.ndarray]:
    """Status codes: 4xx (~70 %), 5xx (~25 %) or 1xx/3xx for the non-2xx rows; style 0 absent (only for
    200), 1 integer, 2 integer string."""
    non2 = rng.random(n) < non2xx_rate
    status = choice(rng, *STATUS_2XX, n, np.int16)
    if non2.any():
        k = int(non2.sum())
        grp = rng.random(k)
        s4 = choice(rng, *STATUS_4XX, k, np.int16)
        s5 = choice(rng, *STATUS_5XX, k, np.int16)
        so = choice(rng, *STATUS_OTHER, k, np.int16)
        status[non2] = np.where(grp < 0.70, s4, np.where(grp < 0.95, s5, so))
    sstyle = choice(rng, [1, 0, 2], [0.87, 0.10, 0.03], n, np.int8)
    sstyle[(sstyle == 0) & (status != 200)] = 1
    return {"status": status, "sstyle": sstyle}


def _sample_aliases(rng: np.random.Generator, mkey: np.ndarray, alias_rate: float) -> dict[str, np.ndarray]:
    """Aliases per row: the account always, each other aliasable field with probability 1/2."""
    n = len(mkey)
    aliased = rng.random(n) < alias_rate
    akey = np.zeros(n, np.int8)
    k = int(aliased.sum())
    ukey = np.zeros(n, np.int8)
    meta = np.zeros(n, bool)
    if k:
        akey[aliased] = choice(rng, [1, 2, 3], [0.45, 0.45, 0.10], k, np.int8)
        mk_alias = aliased & (mkey == 0) & (rng.random(n) < 0.5)
        mkey[mk_alias] = 1
        ukey[aliased & (rng.random(n) < 0.5)] = 1
        meta = aliased & (rng.random(n) < 0.5)
    return {"akey": akey, "mkey": mkey, "ukey": ukey, "meta": meta}


def unique_properties(rng: np.random.Generator, acct: np.ndarray, block: int) -> np.ndarray:
    """Properties codes for events of a unique_count meter over properties.<key> (see UNIQUE_*): each
    account draws from its own pool of 3..40 consecutive "u_<i>" values (a fixed function of the account)."""
    k = len(acct)
    a = acct.astype(np.int64)
    size = 3 + (a * 7919) % 38
    pooled = block + ((a * 104729) % UNIQUE_POOL + (rng.random(k) * size).astype(np.int64)) % UNIQUE_POOL
    n_special = len(UNIQUE_SPECIAL_VALUES)
    special_p = [p for _, p in UNIQUE_SPECIAL_VALUES]
    rest = 1.0 - sum(special_p) - UNIQUE_NO_PROPERTIES - UNIQUE_OTHER_KEY
    kind = choice(
        rng, np.arange(n_special + 3), [rest, *special_p, UNIQUE_NO_PROPERTIES, UNIQUE_OTHER_KEY], k
    )
    # kind 0: pooled; 1..n_special: a special value; n_special + 1: no properties; n_special + 2: other key
    special = block + UNIQUE_POOL + np.minimum(kind - 1, n_special)
    out = np.where(kind == 0, pooled, special)
    return np.where(kind == n_special + 1, -1, out).astype(np.int32)
