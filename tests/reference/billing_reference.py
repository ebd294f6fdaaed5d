"""An independent, plain-Python reference for the billing rules of CONTRACT.md.

The warehouse (dbt models on DuckDB) and this module are written separately from the same contract; a test
builds the warehouse and compares every figure to the ones computed here. A disagreement is a bug on one side.

Scope: rules E1-E5 (events) and P1-P12 (billing), every aggregation including `unique_count`, cap and
minimum lines, prepaid credits and their carried-forward balances. Not covered: P13/P14 (close, late events),
so there are never `adjustment` lines here; where a rule mentions adjustments they count as zero.

Only the standard library is used on the money path (`decimal`, never floats). pyarrow is used only to read
Parquet files.

Reading guide, in the order a finance person would check things:
  1. reading the files        -> _read_source_rows
  2. validating one event     -> _validate        (E1)
  3. deduplicating            -> _deduplicate     (E2, E3)
  4. billing periods          -> period_start_for (P1)
  5. which price an event hits-> _match_price     (P4)
  6. usage and unbilled usage -> compute          (E4, E5, P3)
  7. invoice lines            -> _price_lines     (P5-P9, P12)
  8. cap and minimum          -> _cap_and_minimum (P10)
  9. credits                  -> _apply_credits   (P11)

Readings of the contract this module follows (the project's settled interpretations):
  * unique_count: the values of the meter's `unique_field` (`endpoint`, or `properties.<key>`, where a dotted
    key walks nested objects) are compared as their compact JSON text, numbers as written: `1`, `1.0` and
    `"1"` are three values. Null or absent values are ignored. A Parquet `properties`/`metadata` column that
    holds JSON text is read as that JSON value.
  * cap, minimum and credit lines: quantity 1, no price, tier, meter or endpoint. Cap = -(sum of the
    period's rounded usage lines over all plan segments - maximum_amount) when that sum exceeds it; minimum
    = minimum_amount - (base fee lines + usage lines + cap line) when positive. Both use the plan in force
    on the period's last day (the day before period_end), else the plan with the latest valid_from among the
    period's segments; never prorated.
  * credits: creditable = max(0, usage lines + cap line + adjustment lines). A grant is usable iff
    effective_at < period_end and (no expiry or expires_at > period_end); usable grants are taken by soonest
    expiry (never last), then effective_at, then grant_id, each min(its balance, what is left), exactly.
    One credit line per grant with a non-zero use: amount = round(-used), unit_amount = -used.
  * P8: the excess over a hard limit is reported per (account, period, price, plan segment) in
    `Result.hard_limit_excess` (only where it is positive).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

# Quarantine reasons (E1). When a line breaks several rules, the first check in this order is reported:
# the JSON itself, then the fields in the order of the contract's table (event_id, account, meter, units,
# timestamp, endpoint, status_code).
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
INVALID_EVENT_ID = "invalid_event_id"
MISSING_ACCOUNT = "missing_account"
INVALID_ACCOUNT = "invalid_account"
INVALID_METER = "invalid_meter"
INVALID_UNITS = "invalid_units"
MISSING_TIMESTAMP = "missing_timestamp"
INVALID_TIMESTAMP = "invalid_timestamp"
INVALID_ENDPOINT = "invalid_endpoint"
INVALID_STATUS = "invalid_status"

QUARANTINE_REASONS = (
    INVALID_JSON,
    NOT_AN_OBJECT,
    INVALID_EVENT_ID,
    MISSING_ACCOUNT,
    INVALID_ACCOUNT,
    INVALID_METER,
    INVALID_UNITS,
    MISSING_TIMESTAMP,
    INVALID_TIMESTAMP,
    INVALID_ENDPOINT,
    INVALID_STATUS,
)

# Unbilled usage reasons (E5, section 3a), tested in this order.
UNKNOWN_ACCOUNT = "unknown_account"
UNKNOWN_METER = "unknown_meter"
OUTSIDE_PLAN = "outside_plan"
NO_PRICE = "no_price"

DEFAULT_METER = "api_calls"
DEFAULT_UNITS = Decimal(1)
DEFAULT_STATUS = 200
MAX_FRACTION_DIGITS = 9


# ----------------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------------


@dataclass
class Result:
    # source_file -> {rows_read, rows_valid, rows_duplicate, rows_conflict, rows_quarantined}   (E3)
    reconciliation: dict[str, dict[str, int]]
    # (source_file, line_number, reason)                                                         (E1)
    quarantined: list[tuple[str, int, str]]
    # (account_id, period_start, meter, endpoint) -> (units per the meter's aggregation, event_count)
    usage: dict[tuple[str, date, str, str | None], tuple[Decimal, int]]
    # (account_id, period_start, meter, endpoint, reason) -> (sum of units, event_count)          (E5)
    unbilled: dict[tuple[str, date, str, str | None, str], tuple[Decimal, int]]
    # (account_id, period_start) -> {currency, period_end, subtotal, credits_applied, total, line_count}
    invoices: dict[tuple[str, date], dict]
    # one dict per invoice line: account_id, period_start, period_end, line_type (base_fee | usage | cap |
    # minimum | credit), plan_id, segment_start, segment_end, price_id, meter, endpoint, tier, quantity,
    # unit_amount, amount, currency, grant_id (credit lines; None otherwise). Cap and minimum lines carry the
    # plan (and its segment) they come from; credit lines have no plan.
    lines: list[dict]
    # the as-of time used for P2
    as_of: datetime | None = None
    # P8: (account_id, period_start, price_id, segment_start) -> quantity above the hard limit (> 0 only)
    hard_limit_excess: dict[tuple[str, date, str, date], Decimal] = field(default_factory=dict)
    # P11: (grant_id, period_start) -> {account_id, period_end, currency, opening_balance, used, expired,
    # closing_balance}: one row per grant and invoice period of its account in which the grant is effective
    # and not expired before the period starts
    credit_balances: dict[tuple[str, date], dict] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------
# Catalog (section 2)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meter:
    meter: str
    aggregation: str  # sum | count | max | unique_count
    billable_statuses: frozenset[str]  # e.g. {"2xx"} or {"2xx", "4xx"}
    unique_field: str | None = None  # for unique_count: "endpoint" or "properties.<key>"


@dataclass(frozen=True)
class Plan:
    plan_id: str
    currency: str
    base_fee: Decimal
    minimum_amount: Decimal | None = None  # None = no minimum
    maximum_amount: Decimal | None = None  # None = no cap


@dataclass(frozen=True)
class Tier:
    tier: int
    up_to: Decimal | None  # None = infinity
    unit_amount: Decimal
    flat_amount: Decimal


@dataclass(frozen=True)
class Price:
    price_id: str
    plan_id: str
    meter: str
    endpoint: str | None  # None = blank (also for a lone "*"); "P*" = prefix pattern; else exact
    billing_scheme: str  # per_unit | tiered
    tiers_mode: str | None  # graduated | volume
    unit_amount: Decimal | None
    package_size: Decimal
    package_rounding: str  # up | down
    hard_limit: Decimal | None
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True)
class Account:
    account_id: str
    currency: str
    anchor_day: int
    is_test: bool


@dataclass(frozen=True)
class Assignment:
    """One row of account_plans: the plan in force from valid_from (inclusive) to valid_to (exclusive)."""

    index: int
    account_id: str
    plan_id: str
    valid_from: date
    valid_to: date | None  # None = open


@dataclass(frozen=True)
class Grant:
    """One row of credit_grants: a prepaid amount usable from effective_at until expires_at (both 00:00 UTC)."""

    grant_id: str
    account_id: str
    amount: Decimal
    effective_at: date
    expires_at: date | None  # None = never expires


@dataclass
class Catalog:
    meters: dict[str, Meter]
    minor_units: dict[str, int]
    plans: dict[str, Plan]
    prices: list[Price]
    accounts: dict[str, Account]
    assignments: list[Assignment]
    grants: list[Grant] = field(default_factory=list)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(handle)]


def _decimal_or_none(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def _is_true(text: str) -> bool:
    return text.strip().lower() in {"true", "t", "1", "yes", "y"}


def load_catalog(catalog_dir: str | Path) -> Catalog:
    folder = Path(catalog_dir)
    meters = {
        row["meter"]: Meter(
            meter=row["meter"],
            aggregation=row["aggregation"],
            billable_statuses=frozenset(s.strip() for s in row.get("billable_statuses", "2xx").split(",")),
            unique_field=row.get("unique_field") or None,
        )
        for row in _csv_rows(folder / "meters.csv")
    }
    minor_units = {row["currency"]: int(row["minor_units"]) for row in _csv_rows(folder / "currencies.csv")}
    plans = {
        row["plan_id"]: Plan(
            row["plan_id"],
            row["currency"],
            Decimal(row.get("base_fee") or "0"),
            minimum_amount=_decimal_or_none(row.get("minimum_amount", "")),
            maximum_amount=_decimal_or_none(row.get("maximum_amount", "")),
        )
        for row in _csv_rows(folder / "plans.csv")
    }
    tiers: dict[str, list[Tier]] = defaultdict(list)
    for row in _csv_rows(folder / "price_tiers.csv"):
        tiers[row["price_id"]].append(
            Tier(
                tier=int(row["tier"]),
                up_to=_decimal_or_none(row.get("up_to", "")),
                unit_amount=Decimal(row.get("unit_amount") or "0"),
                flat_amount=Decimal(row.get("flat_amount") or "0"),
            )
        )
    prices = []
    for row in _csv_rows(folder / "prices.csv"):
        endpoint = _strip_query(row.get("endpoint", ""))
        if endpoint in (None, "*"):  # section 3a: a lone "*" is the same as blank
            endpoint = None
        prices.append(
            Price(
                price_id=row["price_id"],
                plan_id=row["plan_id"],
                meter=row["meter"],
                endpoint=endpoint,
                billing_scheme=row["billing_scheme"],
                tiers_mode=row.get("tiers_mode") or None,
                unit_amount=_decimal_or_none(row.get("unit_amount", "")),
                package_size=Decimal(row.get("package_size") or "1"),
                package_rounding=row.get("package_rounding") or "up",
                hard_limit=_decimal_or_none(row.get("hard_limit", "")),
                tiers=tuple(sorted(tiers.get(row["price_id"], []), key=lambda t: t.tier)),
            )
        )
    accounts = {
        row["account_id"]: Account(
            account_id=row["account_id"],
            currency=row["currency"],
            anchor_day=int(row.get("billing_anchor_day") or "1"),
            is_test=_is_true(row.get("is_test", "")),
        )
        for row in _csv_rows(folder / "accounts.csv")
    }
    assignments = [
        Assignment(
            index=i,
            account_id=row["account_id"],
            plan_id=row["plan_id"],
            valid_from=date.fromisoformat(row["valid_from"]),
            valid_to=date.fromisoformat(row["valid_to"]) if row.get("valid_to") else None,
        )
        for i, row in enumerate(_csv_rows(folder / "account_plans.csv"))
    ]
    grants = [
        Grant(
            grant_id=row["grant_id"],
            account_id=row["account_id"],
            amount=Decimal(row["amount"]),
            effective_at=date.fromisoformat(row["effective_at"]),
            expires_at=date.fromisoformat(row["expires_at"]) if row.get("expires_at") else None,
        )
        for row in _csv_rows(folder / "credit_grants.csv")
    ]
    return Catalog(meters, minor_units, plans, prices, accounts, assignments, grants)


# ----------------------------------------------------------------------------------------------------
# 1. Reading the files
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JsonNumber:
    """A JSON number kept as written, so "1.0" stays "1.0" when it becomes an account id or JSON text."""

    text: str

    @property
    def value(self) -> Decimal:
        return Decimal(self.text)


class _NotFinite:
    """A NaN or infinity coming from a Parquet float column (JSON text cannot contain one)."""


NOT_FINITE = _NotFinite()


class _BadJson(ValueError):
    pass


def _reject_constant(name: str) -> None:
    # NaN, Infinity and -Infinity are not JSON: the whole line is invalid JSON.
    raise _BadJson(name)


def _parse_json_line(text: str):
    return json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber, parse_constant=_reject_constant)


def _from_arrow(value):
    """A Parquet cell as if it had been read from JSON text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return JsonNumber(str(value))
    if isinstance(value, float):
        return NOT_FINITE if (math.isnan(value) or math.isinf(value)) else JsonNumber(repr(value))
    if isinstance(value, Decimal):
        return JsonNumber(str(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _from_arrow(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # pyarrow gives a map column as a list of (key, value) pairs
        if value and all(isinstance(x, tuple) and len(x) == 2 for x in value):
            return {k: _from_arrow(v) for k, v in value}
        return [_from_arrow(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _read_source_rows(path: str) -> Iterator[tuple[int, object]]:
    """Yield (line_number, row) for every row of one file.

    NDJSON: row = the line's text; line numbers count every physical line (1-based), blank lines included,
    but blank lines (empty or whitespace only) are not rows (E3) and are not yielded.
    Parquet: row = a dict of the row's non-null columns; line_number = row number (1-based). A `properties` or
    `metadata` column holding JSON text is read as that JSON value (text that is not JSON stays a string).
    """
    name = path.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq  # only for reading Parquet

        table = pq.read_table(path)
        for number, record in enumerate(table.to_pylist(), start=1):
            row = {k: _from_arrow(v) for k, v in record.items() if v is not None}
            for key in ("properties", "metadata"):
                if isinstance(row.get(key), str):
                    with contextlib.suppress(ValueError):  # text that is not JSON stays a string
                        row[key] = _parse_json_line(row[key])
            yield number, row
        return
    if name.endswith((".ndjson", ".jsonl")):
        data = Path(path).read_bytes()
    elif name.endswith((".ndjson.gz", ".jsonl.gz")):
        data = gzip.decompress(Path(path).read_bytes())
    else:
        raise ValueError(f"unsupported event file type: {path}")
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte order mark is not part of the first line
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, raw  # bytes that are not UTF-8: quarantined as invalid JSON
            continue
        if text.strip() == "":
            continue
        yield number, text


# ----------------------------------------------------------------------------------------------------
# 2. Validating one event (E1)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    source_file: str
    line_number: int
    dedupe_key: tuple  # ("id", event_id) or ("content", ...normalised content...)
    account_id: str
    meter: str
    units: Decimal
    timestamp: datetime  # naive UTC
    endpoint: str | None  # without query string
    status: int
    # the parsed `properties` member (None when absent), read by unique_count meters; not part of equality
    properties: object = field(default=None, compare=False, hash=False)

    @property
    def content(self) -> tuple:
        """What must match the kept copy for a duplicate not to be a conflict (section 3a)."""
        return (self.account_id, self.meter, self.units, self.timestamp, self.endpoint, self.status)


class _Invalid(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_NUMERIC_STRING = re.compile(r"[ \t\n\r\f]*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)[ \t\n\r\f]*")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)


def _first_non_null(obj: dict, *paths: str):
    """The first of the given keys (a.b = key b of object a) whose value is present and not null."""
    for path in paths:
        value = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


def _fraction_digits(value: Decimal) -> int:
    """Digits after the decimal point once trailing zeros are dropped (1.50 -> 1, 2E+3 -> 0)."""
    _, digits, exponent = value.as_tuple()
    trailing_zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if trailing_zeros == len(digits):  # the value is zero
        return 0
    return max(0, -(exponent + trailing_zeros))


def _strip_query(endpoint: str) -> str | None:
    """Endpoints lose their query string everywhere (section 3a); what is left, if empty, is absent."""
    without_query = endpoint.split("?", 1)[0]
    return without_query or None


def _account(obj: dict) -> str:
    value = _first_non_null(obj, "account_id", "customer_id", "user_id")
    if value is None or value == "":
        raise _Invalid(MISSING_ACCOUNT)
    if isinstance(value, JsonNumber):
        return value.text  # numbers become strings
    if isinstance(value, str):
        return value
    raise _Invalid(INVALID_ACCOUNT)


def _meter(obj: dict) -> str:
    value = _first_non_null(obj, "meter", "event_name")
    if value is None or value == "":
        return DEFAULT_METER
    if isinstance(value, str):
        return value
    raise _Invalid(INVALID_METER)


def _units(obj: dict) -> Decimal:
    value = _first_non_null(obj, "units", "quantity")
    if value is None:
        return DEFAULT_UNITS
    if isinstance(value, JsonNumber):
        units = value.value
    elif isinstance(value, str) and (match := _NUMERIC_STRING.fullmatch(value)):
        units = Decimal(match.group(1))
    else:  # booleans, NaN, objects, non-numeric strings
        raise _Invalid(INVALID_UNITS)
    if units < 0 or _fraction_digits(units) > MAX_FRACTION_DIGITS:
        raise _Invalid(INVALID_UNITS)
    return units


def parse_timestamp(value) -> datetime:
    """An ISO-8601 string, normalised to naive UTC; anything else is invalid."""
    if not isinstance(value, str) or not (match := _TIMESTAMP.fullmatch(value)):
        raise _Invalid(INVALID_TIMESTAMP)
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    microsecond = int((fraction or "")[:6].ljust(6, "0"))  # fractions beyond microseconds are truncated
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), microsecond)
    except ValueError as exc:  # impossible dates and times (Feb 30, 24:00, 23:59:60)
        raise _Invalid(INVALID_TIMESTAMP) from exc
    if offset in (None, "Z"):
        return local
    digits = offset[1:].replace(":", "")
    offset_hours, offset_minutes = int(digits[:2]), int(digits[2:] or "0")
    if offset_hours > 23 or offset_minutes > 59:
        raise _Invalid(INVALID_TIMESTAMP)
    sign = 1 if offset[0] == "+" else -1
    try:
        return local - sign * timedelta(hours=offset_hours, minutes=offset_minutes)
    except OverflowError as exc:
        raise _Invalid(INVALID_TIMESTAMP) from exc


def _timestamp(obj: dict) -> datetime:
    value = obj.get("timestamp")
    if value is None:
        raise _Invalid(MISSING_TIMESTAMP)
    return parse_timestamp(value)


def _endpoint(obj: dict) -> str | None:
    value = _first_non_null(obj, "endpoint", "metadata.endpoint")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return _strip_query(value)
    raise _Invalid(INVALID_ENDPOINT)


def _status(obj: dict) -> int:
    value = _first_non_null(obj, "status_code", "metadata.status")
    if value is None:
        return DEFAULT_STATUS
    if isinstance(value, JsonNumber):
        number = value.value
    elif isinstance(value, str) and (match := _NUMERIC_STRING.fullmatch(value)):
        number = Decimal(match.group(1))
    else:
        raise _Invalid(INVALID_STATUS)
    if not (100 <= number <= 599) or number != number.to_integral_value():
        raise _Invalid(INVALID_STATUS)
    return int(number)


def _event_id(obj: dict) -> str | None:
    value = obj.get("event_id")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, JsonNumber):
        return value.text
    raise _Invalid(INVALID_EVENT_ID)


def json_text(value) -> str:
    """Compact JSON text of a parsed value, numbers as written, keys in their original order."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, JsonNumber):
        return value.text
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{json_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    return json.dumps(str(value))


def _validate(source_file: str, line_number: int, row: object) -> Event:
    """E1: turn one row into a valid event, or raise _Invalid with the quarantine reason."""
    if isinstance(row, bytes):
        raise _Invalid(INVALID_JSON)
    if isinstance(row, str):
        try:
            row = _parse_json_line(row)
        except ValueError as exc:  # json.JSONDecodeError and _BadJson are ValueErrors
            raise _Invalid(INVALID_JSON) from exc
    if not isinstance(row, dict):
        raise _Invalid(NOT_AN_OBJECT)
    event_id = _event_id(row)
    account_id = _account(row)
    meter = _meter(row)
    units = _units(row)
    timestamp = _timestamp(row)
    endpoint = _endpoint(row)
    status = _status(row)
    if event_id is not None:
        key: tuple = ("id", event_id)
    else:
        # Without event_id the id comes from the normalised content, so identical id-less events count once.
        key = (
            "content",
            account_id,
            meter,
            units,  # a Decimal: 1, 1.0 and "1" are the same value
            timestamp,
            endpoint,
            status,
            json_text(row.get("properties")),
            json_text(row.get("metadata")),
        )
    return Event(
        source_file,
        line_number,
        key,
        account_id,
        meter,
        units,
        timestamp,
        endpoint,
        status,
        row.get("properties"),
    )


def unique_value(event: Event, unique_field: str | None) -> str | None:
    """P3 / 3a: the value a unique_count meter counts, as compact JSON text (numbers as written, so `1`,
    `1.0` and `"1"` are three different values); None (ignored) when the value is null or absent.
    `endpoint` is the event's endpoint without its query string; `properties.a.b` walks nested objects."""
    if unique_field == "endpoint":
        return None if event.endpoint is None else json_text(event.endpoint)
    if unique_field is None or not unique_field.startswith("properties."):
        return None
    value = event.properties
    for part in unique_field[len("properties.") :].split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return None if value is None else json_text(value)


# ----------------------------------------------------------------------------------------------------
# 3. Deduplicating (E2) and reconciling (E3)
# ----------------------------------------------------------------------------------------------------


def _deduplicate(events: list[Event]) -> tuple[list[Event], list[Event], set[tuple[str, int]]]:
    """E2: per id keep the earliest UTC timestamp; ties go to the smaller (source file path, line number).

    Returns (kept, duplicates, conflicts) where conflicts holds (source_file, line_number) of duplicates whose
    normalised content differs from the kept copy.
    """
    by_key: dict[tuple, list[Event]] = defaultdict(list)
    for event in events:
        by_key[event.dedupe_key].append(event)
    kept, duplicates, conflicts = [], [], set()
    for group in by_key.values():
        group.sort(key=lambda e: (e.timestamp, e.source_file, e.line_number))
        winner, *others = group
        kept.append(winner)
        for other in others:
            duplicates.append(other)
            if other.content != winner.content:
                conflicts.add((other.source_file, other.line_number))
    return kept, duplicates, conflicts


# ----------------------------------------------------------------------------------------------------
# 4. Billing periods (P1)
# ----------------------------------------------------------------------------------------------------


def next_month(day: date) -> date:
    """The same day of the next month (anchor days are 1-28, so the day always exists)."""
    return date(day.year + (day.month == 12), day.month % 12 + 1, day.day)


def previous_month(day: date) -> date:
    return date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, day.day)


def period_start_for(moment: datetime | date, anchor_day: int) -> date:
    """P1: the period containing `moment` starts on the anchor day of its month if that day has been reached,
    else on the anchor day of the previous month. Example, anchor 15: 2026-03-14 -> 2026-02-15."""
    this_month = date(moment.year, moment.month, anchor_day)
    return this_month if moment.day >= anchor_day else previous_month(this_month)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


# ----------------------------------------------------------------------------------------------------
# 5. Price matching (P4) and billable statuses (E4)
# ----------------------------------------------------------------------------------------------------


def is_billable(status: int, meter: Meter | None) -> bool:
    """E4: 2xx always; 4xx only where the meter's billable_statuses includes 4xx (unknown meter: 2xx only)."""
    status_class = f"{status // 100}xx"
    if status_class == "2xx":
        return True
    return status_class == "4xx" and meter is not None and "4xx" in meter.billable_statuses


def _match_price(prices: list[Price], endpoint: str | None) -> Price | None:
    """P4: exact endpoint beats the longest matching prefix pattern (`P*`), which beats a blank endpoint."""
    exact = [p for p in prices if p.endpoint is not None and not p.endpoint.endswith("*")]
    for price in exact:
        if endpoint is not None and price.endpoint == endpoint:
            return price
    patterns = [p for p in prices if p.endpoint is not None and p.endpoint.endswith("*")]
    matching = [p for p in patterns if endpoint is not None and endpoint.startswith(p.endpoint[:-1])]
    if matching:
        return max(matching, key=lambda p: len(p.endpoint))
    blank = [p for p in prices if p.endpoint is None]
    return blank[0] if blank else None


def _bill_to(
    event: Event,
    catalog: Catalog,
    assignments: list[Assignment],
    prices_of: dict[tuple[str, str], list[Price]],
) -> tuple[str | None, Assignment | None, Price | None]:
    """E5: why a billable event cannot be invoiced (reasons tested in the contract's order), or else the plan
    assignment in force at its timestamp (P9) and the price it matches (P4)."""
    if event.account_id not in catalog.accounts:
        return UNKNOWN_ACCOUNT, None, None
    if event.meter not in catalog.meters:
        return UNKNOWN_METER, None, None
    in_force = [
        a
        for a in assignments
        if _midnight(a.valid_from) <= event.timestamp
        and (a.valid_to is None or event.timestamp < _midnight(a.valid_to))
    ]
    if not in_force:
        return OUTSIDE_PLAN, None, None
    assignment = in_force[0]
    price = _match_price(prices_of[(assignment.plan_id, event.meter)], event.endpoint)
    if price is None:
        return NO_PRICE, None, None
    return None, assignment, price


# ----------------------------------------------------------------------------------------------------
# 7. Pricing one price in one plan segment (P3, P5-P8, P12)
# ----------------------------------------------------------------------------------------------------


def round_money(amount: Decimal, minor_units: int) -> Decimal:
    """P12: half away from zero to the currency's minor units (usd 0.005 -> 0.01, -0.005 -> -0.01; jpy 1.5
    -> 2). A negative zero becomes a plain zero."""
    rounded = amount.quantize(Decimal(1).scaleb(-minor_units), rounding=ROUND_HALF_UP)
    return rounded if rounded != 0 else abs(rounded)


def aggregate(meter: Meter | None, events: list[Event]) -> Decimal:
    """P3: `sum` of units, `count` of events (units ignored), `max` of units, or `unique_count` of the
    distinct non-null values of the meter's unique_field; no events -> 0. An unknown meter is summed."""
    aggregation = meter.aggregation if meter else "sum"
    if aggregation == "count":
        return Decimal(len(events))
    if aggregation == "max":
        return max((e.units for e in events), default=Decimal(0))
    if aggregation == "unique_count":
        values = {unique_value(e, meter.unique_field) for e in events}
        values.discard(None)
        return Decimal(len(values))
    return sum((e.units for e in events), Decimal(0))


PriceLine = tuple[int | None, Decimal, Decimal | None, Decimal]  # (tier, quantity, unit_amount, amount)


def _price_lines(price: Price, quantity: Decimal) -> list[PriceLine]:
    """The unrounded lines of one price for one plan segment: (tier, quantity, unit_amount, amount).
    `quantity` is the priced quantity, already capped at the hard limit (P8)."""
    if price.billing_scheme == "per_unit":
        unit_amount = price.unit_amount or Decimal(0)
        if price.package_size > 1:
            # P7: ceil (or floor) of quantity / package_size packages, each at unit_amount.
            rounding = ROUND_FLOOR if price.package_rounding == "down" else ROUND_CEILING
            packages = (quantity / price.package_size).to_integral_value(rounding=rounding)
            return [(None, quantity, unit_amount, packages * unit_amount)]
        return [(None, quantity, unit_amount, quantity * unit_amount)]

    if price.tiers_mode == "volume":
        # P6: the tier whose range contains the whole quantity prices all of it (0 falls in tier 1).
        tier = next((t for t in price.tiers if t.up_to is None or quantity <= t.up_to), price.tiers[-1])
        return [(tier.tier, quantity, tier.unit_amount, quantity * tier.unit_amount + tier.flat_amount)]

    # P5 graduated: quantity fills the tiers in order; tier 1 is always reached, tier n > 1 when the
    # quantity exceeds the previous tier's up_to. Each reached tier: its units x unit_amount + flat_amount.
    lines = []
    lower = Decimal(0)
    for tier in price.tiers:
        if tier.tier != price.tiers[0].tier and quantity <= lower:
            break
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        in_tier = max(upper - lower, Decimal(0))
        lines.append((tier.tier, in_tier, tier.unit_amount, in_tier * tier.unit_amount + tier.flat_amount))
        if tier.up_to is None:
            break
        lower = tier.up_to
    return lines


# ----------------------------------------------------------------------------------------------------
# The whole computation
# ----------------------------------------------------------------------------------------------------


def compute(event_paths: list[str], catalog_dir: str, as_of: datetime | None = None) -> Result:
    with localcontext() as context:
        context.prec = 200  # exact decimal arithmetic for any realistic figure; never floats
        return _compute(list(event_paths), catalog_dir, as_of)


def _compute(event_paths: list[str], catalog_dir: str, as_of: datetime | None) -> Result:
    catalog = load_catalog(catalog_dir)

    # E1: validate every row; invalid rows are quarantined with a reason and never claim an id.
    counts = ("rows_read", "rows_valid", "rows_duplicate", "rows_conflict", "rows_quarantined")
    reconciliation = {path: dict.fromkeys(counts, 0) for path in event_paths}
    quarantined: list[tuple[str, int, str]] = []
    valid: list[Event] = []
    for path in event_paths:
        for line_number, row in _read_source_rows(path):
            reconciliation[path]["rows_read"] += 1
            try:
                valid.append(_validate(path, line_number, row))
            except _Invalid as invalid:
                quarantined.append((path, line_number, invalid.reason))
                reconciliation[path]["rows_quarantined"] += 1

    # E2: dedupe across all files.  E3: rows read = valid (kept) + duplicates + quarantined, per file.
    events, duplicates, conflicts = _deduplicate(valid)
    for event in events:
        reconciliation[event.source_file]["rows_valid"] += 1
    for event in duplicates:
        reconciliation[event.source_file]["rows_duplicate"] += 1
    for source_file, _ in conflicts:
        reconciliation[source_file]["rows_conflict"] += 1

    # P2 / 3a: as_of defaults to the latest timestamp of any kept valid event (any status, any account).
    if as_of is None and events:
        as_of = max(e.timestamp for e in events)
    if as_of is not None and as_of.tzinfo is not None:
        as_of = as_of.astimezone(UTC).replace(tzinfo=None)

    def anchor_of(account_id: str) -> int:
        account = catalog.accounts.get(account_id)
        return account.anchor_day if account else 1  # unknown accounts: anchor day 1

    # E4: only billable events count for usage, pricing and unbilled usage.
    billable = [e for e in events if is_billable(e.status, catalog.meters.get(e.meter))]

    # Usage facts: all accounts (unknown and test included), units per the meter's aggregation (P3, 3a):
    # for a unique_count meter, the number of distinct values per (account, period, meter, endpoint).
    usage_events: dict[tuple, list[Event]] = defaultdict(list)
    for event in billable:
        period_start = period_start_for(event.timestamp, anchor_of(event.account_id))
        usage_events[(event.account_id, period_start, event.meter, event.endpoint)].append(event)
    usage = {
        key: (aggregate(catalog.meters.get(key[2]), group), len(group)) for key, group in usage_events.items()
    }

    # E5: each billable event of a non-test account is either priced (plan segment + price) or unbilled.
    assignments_of: dict[str, list[Assignment]] = defaultdict(list)
    for assignment in catalog.assignments:
        assignments_of[assignment.account_id].append(assignment)
    prices_of: dict[tuple[str, str], list[Price]] = defaultdict(list)
    for price in catalog.prices:
        prices_of[(price.plan_id, price.meter)].append(price)

    unbilled_acc: dict[tuple, list[Decimal]] = defaultdict(list)
    # (account_id, period_start, assignment index, price_id) -> the events that price covers
    priced_events: dict[tuple[str, date, int, str], list[Event]] = defaultdict(list)
    for event in billable:
        account = catalog.accounts.get(event.account_id)
        if account is not None and account.is_test:
            continue  # test accounts: usage rows only
        period_start = period_start_for(event.timestamp, anchor_of(event.account_id))
        reason, assignment, price = _bill_to(event, catalog, assignments_of[event.account_id], prices_of)
        if reason is None:
            priced_events[(event.account_id, period_start, assignment.index, price.price_id)].append(event)
        else:
            unbilled_key = (event.account_id, period_start, event.meter, event.endpoint, reason)
            unbilled_acc[unbilled_key].append(event.units)
    # 3a: unbilled `units` is the sum of units whatever the meter's aggregation.
    unbilled = {key: (sum(units, Decimal(0)), len(units)) for key, units in unbilled_acc.items()}

    result = Result(reconciliation, quarantined, usage, unbilled, {}, [], as_of)
    if as_of is None:
        return result

    # P2: one invoice per (known non-test account, period) that overlaps a plan assignment and starts
    # before as_of. P11: the account's invoices are credited in period order, balances carrying forward.
    grants_of: dict[str, list[Grant]] = defaultdict(list)
    for grant in catalog.grants:
        grants_of[grant.account_id].append(grant)
    for account in sorted(catalog.accounts.values(), key=lambda a: a.account_id):
        if account.is_test:
            continue
        period_starts: set[date] = set()
        for assignment in assignments_of[account.account_id]:
            start = period_start_for(assignment.valid_from, account.anchor_day)
            while _midnight(start) < as_of and (assignment.valid_to is None or start < assignment.valid_to):
                period_starts.add(start)
                start = next_month(start)

        balances = {g.grant_id: g.amount for g in grants_of[account.account_id]}
        for period_start in sorted(period_starts):
            invoice, invoice_lines = _invoice(
                catalog,
                account,
                period_start,
                assignments_of[account.account_id],
                priced_events,
                grants_of[account.account_id],
                balances,
                result,
            )
            result.invoices[(account.account_id, period_start)] = invoice
            result.lines.extend(invoice_lines)
    return result


def _invoice(
    catalog: Catalog,
    account: Account,
    period_start: date,
    assignments: list[Assignment],
    priced_events: dict[tuple[str, date, int, str], list[Event]],
    grants: list[Grant],
    balances: dict[str, Decimal],
    result: Result,
) -> tuple[dict, list[dict]]:
    """One invoice: its header and its lines. Records hard-limit excess and credit balances in `result`;
    `balances` (grant_id -> remaining amount) is updated for the account's next invoice."""
    minor_units = catalog.minor_units.get(account.currency, 2)
    period_end = next_month(period_start)
    period_days = (period_end - period_start).days
    lines: list[dict] = []

    def add_line(**line) -> None:
        line["amount"] = round_money(line["amount"], minor_units)  # P12: every line is rounded on its own
        if line["quantity"] == 0 and line["amount"] == 0:
            return  # a line whose quantity and amount are both 0 is omitted
        header = {"account_id": account.account_id, "period_start": period_start, "period_end": period_end}
        lines.append(header | {"grant_id": None} | line | {"currency": account.currency})

    # P9: each plan assignment overlapping the period is a plan segment of its own.
    segments = sorted(
        (
            a
            for a in assignments
            if a.valid_from < period_end and (a.valid_to is None or a.valid_to > period_start)
        ),
        key=lambda a: (a.valid_from, a.index),
    )

    def segment_of(assignment: Assignment) -> dict:
        return {
            "plan_id": assignment.plan_id,
            "segment_start": max(assignment.valid_from, period_start),
            "segment_end": min(assignment.valid_to or period_end, period_end),
        }

    for assignment in segments:
        plan = catalog.plans[assignment.plan_id]
        segment = segment_of(assignment)
        covered_days = (segment["segment_end"] - segment["segment_start"]).days

        # P9: base fee x whole days covered / days in the period (22/31 x 49.00 = 34.774... -> 34.77).
        # Its quantity is 1 (one subscription), so a zero base fee still gives a (zero) line.
        add_line(
            line_type="base_fee",
            **segment,
            price_id=None,
            meter=None,
            endpoint=None,
            tier=None,
            quantity=Decimal(1),
            unit_amount=plan.base_fee,
            amount=plan.base_fee * covered_days / period_days,
            covered_days=covered_days,
            period_days=period_days,
        )

        # Usage: tiers and packages apply per price to the pooled quantity of the segment (P4, P9).
        for price in sorted(catalog.prices, key=lambda p: p.price_id):
            if price.plan_id != plan.plan_id:
                continue
            covered = priced_events.get(
                (account.account_id, period_start, assignment.index, price.price_id), []
            )
            quantity = aggregate(catalog.meters.get(price.meter), covered)  # P3
            # P8: the priced quantity is min(quantity, hard_limit); the excess is not billed but reported.
            if price.hard_limit is not None and quantity > price.hard_limit:
                excess_key = (account.account_id, period_start, price.price_id, segment["segment_start"])
                result.hard_limit_excess[excess_key] = quantity - price.hard_limit
                quantity = price.hard_limit
            for tier, tier_quantity, unit_amount, amount in _price_lines(price, quantity):
                add_line(
                    line_type="usage",
                    **segment,
                    price_id=price.price_id,
                    meter=price.meter,
                    endpoint=price.endpoint,
                    tier=tier,
                    quantity=tier_quantity,
                    unit_amount=unit_amount,
                    amount=amount,
                )

    # P10: cap, then minimum, from the plan in force on the period's last day.
    for line in _cap_and_minimum(catalog, lines, segments, period_end):
        add_line(**segment_of(line.pop("assignment")), **line)

    # P11: credits pay usage and adjustments (after the cap), never base fees or minimums.
    creditable = max(
        Decimal(0),
        sum((x["amount"] for x in lines if x["line_type"] in ("usage", "cap", "adjustment")), Decimal(0)),
    )
    for grant, used in _apply_credits(
        grants, period_start, period_end, creditable, balances, account, result
    ):
        add_line(
            line_type="credit",
            plan_id=None,
            segment_start=None,
            segment_end=None,
            price_id=None,
            meter=None,
            endpoint=None,
            tier=None,
            quantity=Decimal(1),
            unit_amount=-used,
            amount=-used,
            grant_id=grant.grant_id,
        )

    # P12: subtotal and total are sums of rounded lines; credits_applied is the sum of the credit lines.
    zero = round_money(Decimal(0), minor_units)
    subtotal = sum((x["amount"] for x in lines if x["line_type"] != "credit"), zero)
    credits_applied = -sum((x["amount"] for x in lines if x["line_type"] == "credit"), zero)
    invoice = {
        "currency": account.currency,
        "period_end": period_end,
        "subtotal": subtotal,
        "credits_applied": credits_applied + 0,  # + 0 turns a negative zero into 0.00
        "total": subtotal - credits_applied,
        "line_count": len(lines),
    }
    return invoice, lines


# ----------------------------------------------------------------------------------------------------
# 8. Cap and minimum (P10)
# ----------------------------------------------------------------------------------------------------


def _cap_and_minimum(
    catalog: Catalog, lines: list[dict], segments: list[Assignment], period_end: date
) -> list[dict]:
    """The cap and minimum lines of one invoice (unrounded amounts), given its rounded base-fee and usage
    lines. Example: usage lines 250.00 + 230.00 = 480.00 over a 400.00 maximum -> cap -80.00; then base fees
    0 + usage 480.00 - 80.00 = 400.00 is not below a 150.00 minimum -> no minimum line."""
    last_day = period_end - timedelta(days=1)
    in_force = [
        a for a in segments if a.valid_from <= last_day and (a.valid_to is None or a.valid_to > last_day)
    ]
    assignment = in_force[0] if in_force else max(segments, key=lambda a: (a.valid_from, a.index))
    plan = catalog.plans[assignment.plan_id]
    common = {"price_id": None, "meter": None, "endpoint": None, "tier": None, "quantity": Decimal(1)}
    out = []

    usage = sum((x["amount"] for x in lines if x["line_type"] == "usage"), Decimal(0))
    cap = Decimal(0)
    if plan.maximum_amount is not None and usage > plan.maximum_amount:
        cap = -(usage - plan.maximum_amount)
        out.append(
            {"line_type": "cap", "assignment": assignment, **common, "unit_amount": cap, "amount": cap}
        )
        cap = round_money(cap, catalog.minor_units.get(plan.currency, 2))  # the cap line as it is billed

    if plan.minimum_amount is not None:
        base_fees = sum((x["amount"] for x in lines if x["line_type"] == "base_fee"), Decimal(0))
        shortfall = plan.minimum_amount - (base_fees + usage + cap)
        if shortfall > 0:
            out.append(
                {
                    "line_type": "minimum",
                    "assignment": assignment,
                    **common,
                    "unit_amount": shortfall,
                    "amount": shortfall,
                }
            )
    return out


# ----------------------------------------------------------------------------------------------------
# 9. Credits (P11)
# ----------------------------------------------------------------------------------------------------


def _apply_credits(
    grants: list[Grant],
    period_start: date,
    period_end: date,
    creditable: Decimal,
    balances: dict[str, Decimal],
    account: Account,
    result: Result,
) -> list[tuple[Grant, Decimal]]:
    """Use the account's grants for one invoice; returns (grant, amount used) for each non-zero use, in the
    order used. Updates `balances` and records one credit balance row per grant that is effective before
    period_end and not expired at period_start.

    Usable: effective_at < period_end and (never expires or expires_at > period_end). Order: soonest expiry
    first (never-expiring last), then effective_at, then grant_id. A grant expiring at or before period_end
    (and after period_start) loses its remaining balance in this period (`expired`)."""
    usable = sorted(
        (
            g
            for g in grants
            if g.effective_at < period_end and (g.expires_at is None or g.expires_at > period_end)
        ),
        key=lambda g: (g.expires_at is None, g.expires_at or date.max, g.effective_at, g.grant_id),
    )
    used: dict[str, Decimal] = {}
    remaining = creditable
    for grant in usable:
        take = min(balances[grant.grant_id], remaining)
        if take > 0:
            used[grant.grant_id] = take
            remaining -= take

    for grant in sorted(grants, key=lambda g: g.grant_id):
        if not (
            grant.effective_at < period_end and (grant.expires_at is None or period_start < grant.expires_at)
        ):
            continue
        opening = balances[grant.grant_id]
        use = used.get(grant.grant_id, Decimal(0))
        expired = (
            opening - use if grant.expires_at is not None and grant.expires_at <= period_end else Decimal(0)
        )
        closing = opening - use - expired
        balances[grant.grant_id] = closing
        result.credit_balances[(grant.grant_id, period_start)] = {
            "account_id": account.account_id,
            "period_end": period_end,
            "currency": account.currency,
            "opening_balance": opening,
            "used": use,
            "expired": expired,
            "closing_balance": closing,
        }
    return [(g, used[g.grant_id]) for g in usable if g.grant_id in used]
