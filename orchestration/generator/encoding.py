"""Rows -> text.  An NDJSON line is one element-wise concatenation of ~20 "pieces", each a lookup in a small
table of pre-rendered JSON fragments (key + value), a cast or a constant; a null piece contributes nothing,
so an absent member is a null piece.  The tables (``FragmentTables``) are JSON-encoded once with json.dumps
(correct escaping).  Parquet rows get the same values as typed columns (``PARQUET_SCHEMA``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.generator.strings import (
    concat,
    hex_event_ids,
    json_text,
    string_array,
    take,
    where,
)
from orchestration.generator.traffic import (
    ACCOUNT_KEYS,
    ENDPOINTS,
    FRACTION_DIGITS,
    KIND_CONFLICT,
    NANO,
    STATUS_2XX,
    STATUS_4XX,
    STATUS_5XX,
    STATUS_OTHER,
    US_PER_DAY,
    US_PER_S,
    UTC_OFFSETS,
)

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

STATUS_CODES = np.array(
    sorted({*STATUS_2XX[0], *STATUS_4XX[0], *STATUS_5XX[0], *STATUS_OTHER[0]}), dtype=np.int16
)


@dataclass(frozen=True)
class FragmentTables:
    """Pre-rendered text fragments; a row's piece is ``table[code]`` (``n_*`` are the block sizes)."""

    first_day: int  # days since 1970-01-01 of dates[0] (two days before the range)
    n_dates: int
    dates: pa.Array  # "YYYY-MM-DD" for every day of the range, with two days of margin either side
    timestamp_heads: pa.Array  # ',"timestamp":"<date>T' for every date, then the same with a space
    clock_times: pa.Array  # "HH:MM:SS" for every second of a day
    three_digits: pa.Array  # "000".."999"
    dot_three_digits: pa.Array  # ".000"..".999"
    offset_suffixes_quoted: pa.Array  # UTC_OFFSETS' suffixes closing the JSON string
    offset_suffixes: pa.Array  # UTC_OFFSETS' suffixes
    separators: pa.Array  # "T", " "
    offset_us: np.ndarray  # UTC_OFFSETS' offsets in microseconds
    n_meters: int
    meter_members: pa.Array  # ',"meter":<name>' per meter, then ',"event_name":<name>'
    meter_names: pa.Array
    units_openings: pa.Array  # ',"units":' / ',"quantity":' followed by nothing, '"' or "null"
    units_keys: pa.Array  # ',"units":', ',"quantity":'
    n_endpoints: int
    endpoint_members: pa.Array  # ',"endpoint":<e>', then ',"metadata":{"endpoint":<e>', then ',"metadata":{'
    endpoints: pa.Array  # ENDPOINTS (None = absent)
    status_members: pa.Array  # key slot x style x STATUS_CODES, then "}" (metadata without status)
    status_keys: pa.Array  # ',"status_code":', ',"status":' (after a metadata endpoint), '"status":'
    properties_members: pa.Array  # ',"properties":<json>' per properties table entry
    properties_json: pa.Array  # the properties table
    account_openings: pa.Array  # "{" + ACCOUNT_KEYS
    account_keys: pa.Array  # "," + ACCOUNT_KEYS
    single_texts: dict[str, pa.Array]  # '"', "." and "}" as one-element tables (see constant_or_null)


@dataclass(frozen=True)
class ChunkContext:
    """Everything a chunk of lines is rendered from (shared read-only by the build threads)."""

    base: dict[str, np.ndarray]  # the base rows (see traffic)
    row_source: np.ndarray  # per line: the base row it copies (0 for blank lines)
    row_kind: np.ndarray  # per line: KIND_VALID, KIND_RESEND, KIND_CONFLICT, KIND_MALFORMED or KIND_BLANK
    conflicts: dict[str, np.ndarray]  # units, ustyle and ts of the conflicting copies (see faults)
    n_events: int  # lines [0, n_events) are the base rows, then n_resends re-sends, then the conflicts
    n_resends: int
    salt: int  # mixed into event ids, from the seed
    account_ids: pa.Array  # per account index (known, then unknown)
    account_ids_json: pa.Array  # the same as JSON strings
    tables: FragmentTables


def fragment_tables(
    start_date: dt.date, end_date: dt.date, meters: list[str], props_table: list[str]
) -> FragmentTables:
    day0 = (start_date - dt.date(1970, 1, 1)).days - 2
    n_days = (end_date - start_date).days + 4
    dates = np.datetime_as_string(np.arange(day0, day0 + n_days).astype("datetime64[D]")).tolist()
    hms = np.datetime_as_string(np.arange(86_400).astype("datetime64[s]"))
    three = pc.utf8_lpad(pc.cast(pa.array(np.arange(1000)), pa.string()), width=3, padding="0")
    ep_json = [None if e is None else json_text(e) for e in ENDPOINTS]
    st_keys = [',"status_code":', ',"status":', '"status":']
    status = []
    for slot, key in enumerate(st_keys):
        for style in (1, 2):
            for code in STATUS_CODES.tolist():
                value = str(code) if style == 1 else f'"{code}"'
                status.append(key + value + ("}" if slot else ""))
    status.append("}")  # metadata without status
    return FragmentTables(
        first_day=day0,
        n_dates=n_days,
        dates=string_array(dates),
        timestamp_heads=string_array([',"timestamp":"' + d + sep for sep in ("T", " ") for d in dates]),
        clock_times=pc.utf8_slice_codeunits(pa.array(hms.tolist(), pa.string()), 11, 19),
        three_digits=three,
        dot_three_digits=concat(".", three),
        offset_suffixes_quoted=string_array([o[0] + '"' for o in UTC_OFFSETS]),
        offset_suffixes=string_array([o[0] for o in UTC_OFFSETS]),
        separators=string_array(["T", " "]),
        offset_us=np.array([o[1] for o in UTC_OFFSETS], dtype=np.int64) * 60 * US_PER_S,
        n_meters=len(meters),
        meter_members=string_array(
            [key + json_text(m) for key in (',"meter":', ',"event_name":') for m in meters]
        ),
        meter_names=string_array(meters),
        units_openings=string_array(
            [k + v for k in (',"units":', ',"quantity":') for v in ("", '"', "null")]
        ),
        units_keys=string_array([',"units":', ',"quantity":']),
        n_endpoints=len(ENDPOINTS),
        endpoint_members=string_array(
            [None if j is None else ',"endpoint":' + j for j in ep_json]
            + [None if j is None else ',"metadata":{"endpoint":' + j for j in ep_json]
            + [',"metadata":{'] * len(ep_json)
        ),
        endpoints=string_array(ENDPOINTS),
        status_members=string_array(status),
        status_keys=string_array(st_keys),
        properties_members=string_array([',"properties":' + p for p in props_table]),
        properties_json=string_array(props_table),
        account_openings=string_array(["{" + key for key in ACCOUNT_KEYS]),
        account_keys=string_array(["," + key for key in ACCOUNT_KEYS]),
        single_texts={t: string_array([t]) for t in ['"', ".", "}"]},
    )


def constant_or_null(tables: FragmentTables, text: str, null_mask: np.ndarray) -> pa.Array:
    """``text`` where null_mask is False, null elsewhere."""
    return take(tables.single_texts[text], np.zeros(len(null_mask), np.int8), null_mask)


def gather_chunk(ctx: ChunkContext, rows: np.ndarray) -> dict:
    """The base-row fields of these lines (conflicting copies with their own units and timestamp), plus
    ``src`` (the base row) and ``kind`` (the line's kind)."""
    s = ctx.row_source[rows]
    chunk = {k: v[s] for k, v in ctx.base.items()}
    chunk["src"] = s
    chunk["kind"] = ctx.row_kind[rows]
    is_con = chunk["kind"] == KIND_CONFLICT
    if is_con.any():
        j = rows[is_con] - ctx.n_events - ctx.n_resends
        con = ctx.conflicts
        chunk["units"][is_con] = con["units"][j]
        chunk["ustyle"][is_con] = con["ustyle"][j]
        chunk["ts"][is_con] = con["ts"][j]
    return chunk


def subset(chunk: dict, mask: np.ndarray) -> dict:
    """The rows of ``chunk`` where ``mask``."""
    return {k: v[mask] for k, v in chunk.items()}


def timestamp_pieces(chunk: dict, tables: FragmentTables, member: bool) -> list:
    """Timestamp in the row's style (local wall time + offset suffix); as a JSON member or as bare text."""
    local = chunk["ts"] + tables.offset_us[chunk["off"]]
    digits = FRACTION_DIGITS[chunk["fd"]]
    day = local // US_PER_DAY - tables.first_day
    if member:
        head = [pc.take(tables.timestamp_heads, pa.array(chunk["sep"] * tables.n_dates + day))]
    else:
        head = [pc.take(tables.dates, pa.array(day)), pc.take(tables.separators, pa.array(chunk["sep"]))]
    return head + [
        pc.take(tables.clock_times, pa.array((local // US_PER_S) % 86_400)),
        take(tables.dot_three_digits, (local // 1000) % 1000, digits == 0),
        take(tables.three_digits, local % 1000, digits < 6),
        take(tables.three_digits, (chunk["src"] * 7919 + 13) % 1000, digits < 9),
        pc.take(tables.offset_suffixes_quoted if member else tables.offset_suffixes, pa.array(chunk["off"])),
    ]


def timestamp_text(chunk: dict, tables: FragmentTables) -> pa.Array:
    return concat(*timestamp_pieces(chunk, tables, member=False), null_as_empty=True)


def units_pieces(nano: np.ndarray, tables: FragmentTables, null_mask: np.ndarray) -> list:
    """Exact decimal text of nano-units (trailing zeros trimmed) as pieces; null where null_mask."""
    ip_t = pc.cast(pa.array(nano // NANO, mask=null_mask), pa.string())
    fr = nano % NANO
    frac = (fr != 0) & ~null_mask
    if not frac.any():
        return [ip_t]
    fr_t = pc.utf8_lpad(pc.cast(pa.array(fr, mask=~frac), pa.string()), width=9, padding="0")
    return [ip_t, constant_or_null(tables, ".", ~frac), pc.utf8_rtrim(fr_t, characters="0")]


def units_text(nano: np.ndarray, tables: FragmentTables) -> pa.Array:
    return concat(*units_pieces(nano, tables, np.zeros(len(nano), bool)), null_as_empty=True)


def status_slot(chunk: dict) -> np.ndarray:
    """Where the status goes: 0 top-level ``status_code``, 1 in metadata after the endpoint, 2 first in metadata."""
    return np.where(chunk["meta"], np.where(chunk["ep"] != 0, 1, 2), 0)


def member_pieces(
    chunk: dict, tables: FragmentTables, ctx: ChunkContext, account_first: bool
) -> dict[str, list]:
    """The pieces of each JSON member, in line order.  With ``account_first`` the account member opens the
    object (``{`` included); otherwise every member starts with a comma and the caller drops the first one."""
    members: dict[str, list] = {}
    acct = [
        pc.take(tables.account_openings if account_first else tables.account_keys, pa.array(chunk["akey"])),
        pc.take(ctx.account_ids_json, pa.array(chunk["acct"])),
    ]
    if account_first:
        members["account"] = acct
    ids = chunk["idstyle"]
    eid = hex_event_ids(chunk["src"], ctx.salt, b',"event_id":"', b'"')
    if (ids != 0).any():
        eid = where(ids == 0, eid, where(ids == 2, ',"event_id":""', None))
    members["event_id"] = [eid]
    if not account_first:
        members["account"] = acct
    mkey = chunk["mkey"]
    members["meter"] = [
        take(tables.meter_members, np.minimum(mkey, 1) * tables.n_meters + chunk["meter"], mkey == 2)
    ]
    us = chunk["ustyle"]
    no_num = (us == 0) | (us == 3)
    members["units"] = [
        take(tables.units_openings, chunk["ukey"] * 3 + np.maximum(us - 1, 0), us == 0),
        *units_pieces(chunk["units"], tables, no_num),
        constant_or_null(tables, '"', us != 2),
    ]
    members["timestamp"] = timestamp_pieces(chunk, tables, member=True)
    meta = chunk["meta"]
    has_ep = chunk["ep"] != 0
    n_ep = tables.n_endpoints
    ep_idx = np.where(meta, np.where(has_ep, n_ep + chunk["ep"], 2 * n_ep), chunk["ep"])
    members["endpoint"] = [take(tables.endpoint_members, ep_idx, ~meta & ~has_ep)]
    ss = chunk["sstyle"]
    k = len(STATUS_CODES)
    code = np.searchsorted(STATUS_CODES, chunk["status"])
    st_idx = np.where(ss == 0, 6 * k, (status_slot(chunk) * 2 + np.maximum(ss - 1, 0)) * k + code)
    members["status"] = [take(tables.status_members, st_idx, (ss == 0) & ~meta)]
    no_props = chunk["props"] < 0
    members["properties"] = [take(tables.properties_members, np.maximum(chunk["props"], 0), no_props)]
    return members


def parquet_table(chunk: dict, tables: FragmentTables, ctx: ChunkContext) -> pa.Table:
    """The chunk's rows as ``PARQUET_SCHEMA`` columns (absent fields are nulls)."""
    ids = chunk["idstyle"]
    eid = hex_event_ids(chunk["src"], ctx.salt, b"")
    eid = where(ids == 0, eid, where(ids == 2, "", None))
    us = chunk["ustyle"]
    no_units = (us == 0) | (us == 3)
    return pa.table(
        {
            "event_id": eid,
            "account_id": pc.take(ctx.account_ids, pa.array(chunk["acct"])),
            "meter": take(tables.meter_names, chunk["meter"], chunk["mkey"] == 2),
            "units": where(no_units, None, units_text(chunk["units"], tables)),
            "timestamp": timestamp_text(chunk, tables),
            "endpoint": pc.take(tables.endpoints, pa.array(chunk["ep"])),
            "status_code": pa.array(chunk["status"].astype(np.int32), mask=chunk["sstyle"] == 0),
            "properties": take(tables.properties_json, np.maximum(chunk["props"], 0), chunk["props"] < 0),
        },
        schema=PARQUET_SCHEMA,
    )
