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

Modules: ``traffic`` (the traffic model), ``faults`` (delivery faults and malformed lines), ``encoding``
(rows -> NDJSON/Parquet values), ``strings`` (vectorised string building), ``writers`` (file layout and
writing), ``catalog`` (reading the catalog, writing the extended copy), ``summary`` (the reconciliation).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from orchestration.generator.catalog import (
    DEFAULT_CATALOG,
    AccountPool,
    account_pool,
    load_catalog,
    meter_mix,
    usd_plans,
    write_catalog_copy,
)
from orchestration.generator.encoding import PARQUET_SCHEMA, ChunkContext, fragment_tables
from orchestration.generator.faults import (
    DeliveryFaults,
    choose_delivery_faults,
    compose_lines,
    delivery_times,
    unknown_account_ids,
)
from orchestration.generator.strings import concat, json_text, string_array
from orchestration.generator.summary import (
    FileTallies,
    event_counts,
    malformed_by_kind,
    per_file_summary,
    tally_files,
)
from orchestration.generator.traffic import (
    MALFORMED_KINDS,
    AccountMix,
    DateRange,
    MeterMix,
    date_range,
    heavy_accounts,
    month_index,
    sample_base_rows,
)
from orchestration.generator.writers import (
    FILE_EXTENSIONS,
    FileLayout,
    file_layout,
    remove_earlier_runs,
    write_files,
)

__all__ = ["generate_events", "MALFORMED_KINDS", "PARQUET_SCHEMA"]


class Rates(NamedTuple):
    """The fault and variety rates of ``generate_events`` (fractions in [0, 1], see the module docstring)."""

    resend_rate: float
    conflict_rate: float
    late_rate: float
    non2xx_rate: float
    malformed_rate: float
    alias_rate: float
    unknown_account_rate: float
    blank_line_rate: float


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
    (see ``catalog.write_grants``).
    """
    rates = Rates(
        resend_rate,
        conflict_rate,
        late_rate,
        non2xx_rate,
        malformed_rate,
        alias_rate,
        unknown_account_rate,
        blank_line_rate,
    )
    _check_arguments(fmt, events, accounts, months, files, rates)
    if fmt == "parquet":  # only NDJSON carries malformed lines, aliases and blank lines
        rates = rates._replace(malformed_rate=0.0, alias_rate=0.0, blank_line_rate=0.0)
    return _generate(
        Path(out_dir),
        events=int(events),
        accounts=accounts,
        dates=date_range(start, months),
        seed=seed,
        fmt=fmt,
        files=files,
        catalog_dir=Path(catalog_dir) if catalog_dir is not None else DEFAULT_CATALOG,
        write_catalog=write_catalog,
        rates=rates,
        say=progress or (lambda _msg: None),
    )


def _check_arguments(
    fmt: str, events: int, accounts: int, months: int, files: int | None, rates: Rates
) -> None:
    if fmt not in FILE_EXTENSIONS:
        raise ValueError(f"fmt must be one of {sorted(FILE_EXTENSIONS)}, got {fmt!r}")
    if events < 0 or accounts < 1 or months < 1:
        raise ValueError("need events >= 0, accounts >= 1, months >= 1")
    if files is not None and files < 1:
        raise ValueError("files must be >= 1")
    for name, rate in rates._asdict().items():
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {rate}")


def _generate(
    out_dir: Path,
    *,
    events: int,
    accounts: int,
    dates: DateRange,
    seed: int,
    fmt: str,
    files: int | None,
    catalog_dir: Path,
    write_catalog: Path | None,
    rates: Rates,
    say: Callable[[str], None],
) -> dict:
    """The steps of ``generate_events``, in the order they draw from the seeded generator."""
    cat_accounts, cat_meters, cat_plans = load_catalog(catalog_dir)
    meters, properties_table = meter_mix(cat_meters)
    rng = np.random.default_rng(seed)

    say("accounts")
    senders = _senders(cat_accounts, cat_plans, accounts, rng)
    base, ts_month, faults = _sample_events(rng, events, senders.mix, meters, dates, rates, say)

    say("ordering and file layout")
    n_rows = events + len(faults.resend_src) + len(faults.conflict_src)
    n_blank = int(round(rates.blank_line_rate * n_rows))
    source, kind, layout = _lay_out_lines(rng, base, ts_month, faults, n_blank, dates, fmt, files)
    tallies = tally_files(layout, kind, events, faults, base["ts"])

    out_dir.mkdir(parents=True, exist_ok=True)
    remove_earlier_runs(out_dir, fmt)
    ctx = ChunkContext(
        base=base,
        row_source=source,
        row_kind=kind,
        conflicts=faults.conflicts,
        n_events=events,
        n_resends=len(faults.resend_src),
        salt=int((seed * 0x632BE59BD9B4E019 + 0x9E3779B97F4A7C15) % 2**64),
        account_ids=senders.account_ids,
        account_ids_json=senders.account_ids_json,
        tables=fragment_tables(dates.start_date, dates.end_date, meters.names, properties_table),
    )
    paths = [out_dir / name for name in layout.names]
    write_files(paths, layout, ctx, fmt, say)

    if write_catalog is not None:
        say(f"writing catalog to {write_catalog}")
        write_catalog_copy(
            catalog_dir,
            Path(write_catalog),
            senders.pool,
            senders.forced_plan,
            cat_accounts,
            cat_plans,
            rng,
            dates.start_date,
            dates.end_date,
        )

    counts = event_counts(base, kind, faults, tallies, senders.mix.n_known, senders.pool.test_idx)
    return {
        "format": fmt,
        "seed": seed,
        "out_dir": str(out_dir),
        "start": dates.start_date.isoformat(),
        "end": dates.end_date.isoformat(),
        **_file_summary(paths, tallies),
        "counts": counts,
        "malformed_by_kind": malformed_by_kind(base),
        "accounts_known": senders.mix.n_known,
        "accounts_generated": int(senders.pool.n_generated),
        "unknown_account_ids": senders.unknown_ids,
        "catalog": str(write_catalog) if write_catalog is not None else None,
    }


def _sample_events(
    rng: np.random.Generator,
    events: int,
    accounts: AccountMix,
    meters: MeterMix,
    dates: DateRange,
    rates: Rates,
    say: Callable[[str], None],
) -> tuple[dict[str, np.ndarray], np.ndarray, DeliveryFaults]:
    """The base rows, each row's calendar month (from the range's first), and the delivery faults."""
    n_malformed = int(round(rates.malformed_rate * events))
    n_valid = events - n_malformed
    say(f"sampling {events:,} events")
    base = sample_base_rows(
        rng,
        events,
        n_malformed,
        int(round(rates.unknown_account_rate * n_valid)),
        accounts,
        meters,
        dates,
        rates.non2xx_rate,
        rates.alias_rate,
    )
    ts_month = month_index(base["ts"], dates.month_start_us)
    faults = choose_delivery_faults(
        rng, base, ts_month, dates, n_valid, rates.late_rate, rates.resend_rate, rates.conflict_rate
    )
    return base, ts_month, faults


def _file_summary(paths: list[Path], tallies: FileTallies) -> dict:
    per_file = per_file_summary(paths, tallies)
    return {
        "files": [str(p) for p in paths],
        "rows_per_file": {str(p): per_file[str(p)]["rows"] for p in paths},
        "per_file": per_file,
    }


class _Senders(NamedTuple):
    pool: AccountPool
    forced_plan: np.ndarray  # usd plan index per generated account, -1 = drawn with the catalog copy
    mix: AccountMix
    unknown_ids: list[str]
    account_ids: pa.Array  # per account index: the known accounts, then the unknown ids
    account_ids_json: pa.Array  # the same as JSON strings


def _senders(
    cat_accounts: pd.DataFrame, cat_plans: pd.DataFrame, accounts: int, rng: np.random.Generator
) -> _Senders:
    """The known accounts with their Zipf ranks and batch reporters, and the unknown ids."""
    pool = account_pool(cat_accounts, accounts, rng)
    n_cat = len(pool.catalog_chosen)
    batch, forced_plan = heavy_accounts(
        pool.account_of_rank, n_cat, pool.n_generated, len(usd_plans(cat_plans)), rng
    )
    unknown_ids = unknown_account_ids(set(cat_accounts["account_id"]), accounts)
    account_ids = pa.concat_arrays([pool.ids, string_array(unknown_ids)])
    account_ids_json = pa.concat_arrays(
        [  # catalog ids may need escaping; generated ids are plain ASCII
            string_array([json_text(a) for a in pool.catalog_chosen]),
            concat('"', account_ids[n_cat:], '"'),
        ]
    )
    mix = AccountMix(
        pool.account_of_rank,
        np.concatenate([batch, np.zeros(len(unknown_ids), bool)]),
        len(pool.ids),
        len(unknown_ids),
    )
    return _Senders(pool, forced_plan, mix, unknown_ids, account_ids, account_ids_json)


def _lay_out_lines(
    rng: np.random.Generator,
    base: dict[str, np.ndarray],
    ts_month: np.ndarray,
    faults: DeliveryFaults,
    n_blank: int,
    dates: DateRange,
    fmt: str,
    files: int | None,
) -> tuple[np.ndarray, np.ndarray, FileLayout]:
    """Every line's base row and kind, and the files they go to in delivery order."""
    source, kind, in_second_part = compose_lines(base["kind"], faults, n_blank)
    delivered = delivery_times(rng, base["ts"], ts_month, faults, n_blank, dates)
    layout = file_layout(
        delivered,
        month_index(delivered, dates.month_start_us),
        in_second_part,
        dates.first_month,
        dates.start_us,
        fmt,
        files,
    )
    return source, kind, layout
