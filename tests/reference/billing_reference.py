"""An independent, plain-Python reference for the billing rules of CONTRACT.md.

The warehouse (dbt models on DuckDB) and this module are written separately from the same contract; a test
builds the warehouse and compares every figure to the ones computed here. A disagreement is a bug on one side.

Scope: rules E1-E5 (events) and P1-P9, P12 (billing). Not covered: P10 (cap/minimum), P11 (credits),
P13/P14 (close, late events) and the `unique_count` aggregation. Invoices that involve a price on a
`unique_count` meter are listed in `Result.incomplete_invoices` so a comparison can leave them out.

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
"""

from __future__ import annotations

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
    # one dict per invoice line: account_id, period_start, period_end, line_type, plan_id, segment_start,
    # segment_end, price_id, meter, endpoint, tier, quantity, unit_amount, amount, currency
    lines: list[dict]
    # the as-of time used for P2
    as_of: datetime | None = None
    # invoices left incomplete because a price on a unique_count meter was in force (out of scope)
    incomplete_invoices: set[tuple[str, date]] = field(default_factory=set)


# ----------------------------------------------------------------------------------------------------
# Catalog (section 2)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Meter:
    meter: str
    aggregation: str  # sum | count | max | unique_count
    billable_statuses: frozenset[str]  # e.g. {"2xx"} or {"2xx", "4xx"}


@dataclass(frozen=True)
class Plan:
    plan_id: str
    currency: str
    base_fee: Decimal


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


@dataclass
class Catalog:
    meters: dict[str, Meter]
    minor_units: dict[str, int]
    plans: dict[str, Plan]
    prices: list[Price]
    accounts: dict[str, Account]
    assignments: list[Assignment]


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
        )
        for row in _csv_rows(folder / "meters.csv")
    }
    minor_units = {row["currency"]: int(row["minor_units"]) for row in _csv_rows(folder / "currencies.csv")}
    plans = {
        row["plan_id"]: Plan(row["plan_id"], row["currency"], Decimal(row.get("base_fee") or "0"))
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
    return Catalog(meters, minor_units, plans, prices, accounts, assignments)


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
    Parquet: row = a dict of the row's non-null columns; line_number = row number (1-based).
    """
    name = path.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq  # only for reading Parquet

        table = pq.read_table(path)
        for number, record in enumerate(table.to_pylist(), start=1):
            yield number, {k: _from_arrow(v) for k, v in record.items() if v is not None}
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
    return Event(source_file, line_number, key, account_id, meter, units, timestamp, endpoint, status)


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
    """P12: half away from zero to the currency's minor units (usd 0.005 -> 0.01; jpy 1.5 -> 2)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units), rounding=ROUND_HALF_UP)


def aggregate(aggregation: str, units: list[Decimal]) -> Decimal:
    """P3: sum of units, count of events (units ignored) or max of units; no events -> 0."""
    if aggregation == "count":
        return Decimal(len(units))
    if aggregation == "max":
        return max(units, default=Decimal(0))
    return sum(units, Decimal(0))


PriceLine = tuple[int | None, Decimal, Decimal | None, Decimal]  # (tier, quantity, unit_amount, amount)


def _price_lines(price: Price, quantity: Decimal) -> list[PriceLine]:
    """The unrounded lines of one price for one plan segment: (tier, quantity, unit_amount, amount)."""
    # P8: the priced quantity is capped at the hard limit; the excess is not billed.
    if price.hard_limit is not None:
        quantity = min(quantity, price.hard_limit)

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

    # Usage facts: all accounts (unknown and test included), units per the meter's aggregation (P3).
    usage_units: dict[tuple, list[Decimal]] = defaultdict(list)
    for event in billable:
        period_start = period_start_for(event.timestamp, anchor_of(event.account_id))
        usage_units[(event.account_id, period_start, event.meter, event.endpoint)].append(event.units)
    usage = {}
    for key, units in usage_units.items():
        meter = catalog.meters.get(key[2])
        aggregation = meter.aggregation if meter else "sum"  # unknown meter: summed
        if aggregation == "unique_count":
            continue  # out of scope
        usage[key] = (aggregate(aggregation, units), len(units))

    # E5: each billable event of a non-test account is either priced (plan segment + price) or unbilled.
    assignments_of: dict[str, list[Assignment]] = defaultdict(list)
    for assignment in catalog.assignments:
        assignments_of[assignment.account_id].append(assignment)
    prices_of: dict[tuple[str, str], list[Price]] = defaultdict(list)
    for price in catalog.prices:
        prices_of[(price.plan_id, price.meter)].append(price)

    unbilled_acc: dict[tuple, list[Decimal]] = defaultdict(list)
    # (account_id, period_start, assignment index, price_id) -> units of the events that price covers
    priced_units: dict[tuple[str, date, int, str], list[Decimal]] = defaultdict(list)
    for event in billable:
        account = catalog.accounts.get(event.account_id)
        if account is not None and account.is_test:
            continue  # test accounts: usage rows only
        period_start = period_start_for(event.timestamp, anchor_of(event.account_id))
        reason, assignment, price = _bill_to(event, catalog, assignments_of[event.account_id], prices_of)
        if reason is None:
            segment_key = (event.account_id, period_start, assignment.index, price.price_id)
            priced_units[segment_key].append(event.units)
        else:
            unbilled_key = (event.account_id, period_start, event.meter, event.endpoint, reason)
            unbilled_acc[unbilled_key].append(event.units)
    unbilled = {key: (sum(units, Decimal(0)), len(units)) for key, units in unbilled_acc.items()}

    # P2: one invoice per (known non-test account, period) that overlaps a plan assignment and starts
    # before as_of.
    invoices: dict[tuple[str, date], dict] = {}
    lines: list[dict] = []
    incomplete: set[tuple[str, date]] = set()
    if as_of is None:
        return Result(reconciliation, quarantined, usage, unbilled, invoices, lines, as_of, incomplete)

    for account in sorted(catalog.accounts.values(), key=lambda a: a.account_id):
        if account.is_test:
            continue
        period_starts: set[date] = set()
        for assignment in assignments_of[account.account_id]:
            start = period_start_for(assignment.valid_from, account.anchor_day)
            while _midnight(start) < as_of and (assignment.valid_to is None or start < assignment.valid_to):
                period_starts.add(start)
                start = next_month(start)

        for period_start in sorted(period_starts):
            invoice, invoice_lines, is_complete = _invoice(
                catalog, account, period_start, assignments_of[account.account_id], priced_units
            )
            invoices[(account.account_id, period_start)] = invoice
            lines.extend(invoice_lines)
            if not is_complete:
                incomplete.add((account.account_id, period_start))

    return Result(reconciliation, quarantined, usage, unbilled, invoices, lines, as_of, incomplete)


def _invoice(
    catalog: Catalog,
    account: Account,
    period_start: date,
    assignments: list[Assignment],
    priced_units: dict[tuple[str, date, int, str], list[Decimal]],
) -> tuple[dict, list[dict], bool]:
    """One invoice: its header, its lines, and whether it is complete (no unique_count price involved)."""
    minor_units = catalog.minor_units.get(account.currency, 2)
    period_end = next_month(period_start)
    period_days = (period_end - period_start).days
    lines: list[dict] = []
    is_complete = True

    def add_line(**line) -> None:
        line["amount"] = round_money(line["amount"], minor_units)  # P12: every line is rounded on its own
        if line["quantity"] == 0 and line["amount"] == 0:
            return  # a line whose quantity and amount are both 0 is omitted
        header = {"account_id": account.account_id, "period_start": period_start, "period_end": period_end}
        lines.append(header | line | {"currency": account.currency})

    # P9: each plan assignment overlapping the period is a plan segment of its own.
    segments = [
        a
        for a in assignments
        if a.valid_from < period_end and (a.valid_to is None or a.valid_to > period_start)
    ]
    for assignment in sorted(segments, key=lambda a: (a.valid_from, a.index)):
        plan = catalog.plans[assignment.plan_id]
        segment_start = max(assignment.valid_from, period_start)
        segment_end = min(assignment.valid_to or period_end, period_end)
        covered_days = (segment_end - segment_start).days
        segment = {"plan_id": plan.plan_id, "segment_start": segment_start, "segment_end": segment_end}

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
            meter = catalog.meters.get(price.meter)
            aggregation = meter.aggregation if meter else "sum"
            if aggregation == "unique_count":
                is_complete = False  # out of scope
                continue
            units = priced_units.get((account.account_id, period_start, assignment.index, price.price_id), [])
            quantity = aggregate(aggregation, units)  # P3
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

    # P12: subtotal is the sum of the rounded lines; credits are out of scope, so total = subtotal.
    zero = round_money(Decimal(0), minor_units)
    subtotal = sum((line["amount"] for line in lines), zero)
    invoice = {
        "currency": account.currency,
        "period_end": period_end,
        "subtotal": subtotal,
        "credits_applied": zero,
        "total": subtotal,
        "line_count": len(lines),
    }
    return invoice, lines, is_complete
