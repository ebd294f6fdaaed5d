"""Asset checks beyond dbt's tests, read from the warehouse after each build.

Thresholds (read when the code location loads):
- USAGE_BILLING_QUARANTINE_WARN_RATE  quarantined / rows read above which `quarantine_rate` warns (default 0.01)
- USAGE_BILLING_INVOICE_CHANGE_PCT    % change of an invoice total against the account's previous period above
                                      which `invoice_total_change` warns (default 50)
"""

from __future__ import annotations

import os
from decimal import Decimal

import dagster as dg
import duckdb

from orchestration.readers.observe import md_table
from orchestration.warehouse.project import duckdb_path


def quarantine_warn_rate() -> Decimal:
    return Decimal(os.environ.get("USAGE_BILLING_QUARANTINE_WARN_RATE", "0.01"))


def invoice_change_pct() -> Decimal:
    return Decimal(os.environ.get("USAGE_BILLING_INVOICE_CHANGE_PCT", "50"))


def _rows(sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(duckdb_path()), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@dg.asset_check(
    asset=dg.AssetKey("event_reconciliation"),
    name="conservation_per_file",
    description="E3: for every event file, rows read = valid (kept) + duplicates + quarantined.",
)
def conservation_per_file() -> dg.AssetCheckResult:
    rows = _rows(
        """select source_file, rows_read, rows_valid, rows_duplicate, rows_quarantined
           from marts.event_reconciliation order by source_file"""
    )
    broken = [r for r in rows if r[1] != r[2] + r[3] + r[4]]
    return dg.AssetCheckResult(
        passed=not broken,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{len(rows)} file(s), every one adds up"
            if not broken
            else f"{len(broken)} of {len(rows)} file(s) do not add up: rows read ≠ valid + duplicates + quarantined"
        ),
        metadata={
            "files": len(rows),
            "files_not_adding_up": len(broken),
            "per_file": dg.MetadataValue.md(
                md_table(
                    ["file", "read", "valid", "duplicates", "quarantined"],
                    [(os.path.basename(f), *n) for f, *n in (broken or rows)[:50]],
                    right=(1, 2, 3, 4),
                )
            ),
        },
    )


@dg.asset_check(
    asset=dg.AssetKey("events_quarantined"),
    name="quarantine_rate",
    description="Warns when quarantined lines exceed USAGE_BILLING_QUARANTINE_WARN_RATE of the rows read (default 1 %).",
)
def quarantine_rate() -> dg.AssetCheckResult:
    ((read, quarantined),) = _rows(
        "select coalesce(sum(rows_read), 0), coalesce(sum(rows_quarantined), 0) from marts.event_reconciliation"
    )
    reasons = _rows("select reason, count(*) from marts.events_quarantined group by 1 order by 2 desc, 1")
    threshold = quarantine_warn_rate()
    rate = Decimal(int(quarantined)) / Decimal(int(read)) if read else Decimal(0)
    return dg.AssetCheckResult(
        passed=rate <= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{quarantined:,} of {read:,} rows quarantined ({rate:.4%}); warn above {threshold:.2%}",
        metadata={
            "rows_read": int(read),
            "rows_quarantined": int(quarantined),
            "quarantine_rate": float(rate),  # a ratio for the chart, not money
            "threshold": float(threshold),
            "reasons": dg.MetadataValue.md(md_table(["reason", "lines"], reasons, right=(1,))),
        },
    )


@dg.asset_check(
    asset=dg.AssetKey("unbilled_usage"),
    name="no_unbilled_usage",
    description="E5: warns when valid billable usage is on no invoice, with events and units by reason.",
)
def no_unbilled_usage() -> dg.AssetCheckResult:
    rows = _rows(
        """select reason, sum(event_count)::bigint, sum(units), count(distinct account_id)
           from marts.unbilled_usage group by 1 order by 2 desc, 1"""
    )
    events = sum(r[1] for r in rows)
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "every billable event is on an invoice"
            if not rows
            else "unbilled usage: " + ", ".join(f"{r} {n:,} events" for r, n, _, _ in rows)
        ),
        metadata={
            "unbilled_events": int(events),
            "by_reason": dg.MetadataValue.md(
                md_table(["reason", "events", "units", "accounts"], rows, right=(1, 2, 3))
            ),
        },
    )


@dg.asset_check(
    asset=dg.AssetKey("fct_invoices"),
    name="invoice_total_change",
    description=(
        "Warns when an open invoice's total moved more than USAGE_BILLING_INVOICE_CHANGE_PCT % (default 50) "
        "from the account's previous period, for review before the close."
    ),
)
def invoice_total_change() -> dg.AssetCheckResult:
    rows = _rows(
        """with invoices as (
               select invoice_id, account_id, period_start, currency, total, status,
                      lag(total) over (partition by account_id, currency order by period_start) as previous_total
               from marts.fct_invoices
           )
           select invoice_id, account_id, period_start, currency, previous_total, total
           from invoices
           where status = 'open' and previous_total is not null
           order by account_id, period_start"""
    )
    limit = invoice_change_pct()
    moved = []
    for invoice_id, account_id, start, currency, previous, total in rows:
        if previous == 0:
            change = None if total == 0 else "new charges"
            if change:
                moved.append(
                    (invoice_id, account_id, start, f"{previous} → {total} {currency.upper()}", change)
                )
            continue
        pct = (total - previous) / abs(previous) * 100
        if abs(pct) > limit:
            moved.append(
                (invoice_id, account_id, start, f"{previous} → {total} {currency.upper()}", f"{pct:+.1f} %")
            )
    return dg.AssetCheckResult(
        passed=not moved,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(moved)} of {len(rows)} open invoice(s) moved more than {limit} % from the previous period"
        ),
        metadata={
            "open_invoices_compared": len(rows),
            "invoices_moved": len(moved),
            "threshold_pct": float(limit),
            "moved": dg.MetadataValue.md(
                md_table(["invoice", "account", "period start", "previous → now", "change"], moved[:50])
            ),
        },
    )


@dg.asset_check(
    asset=dg.AssetKey("event_files_rejected"),
    name="event_files_rejected",
    description=(
        "Red (error) while a damaged event file is not loaded (corrupt or truncated gzip, garbage Parquet, "
        "unreadable); a warning when files that are not event files sit under the events location, or a "
        "loaded object was overwritten since."
    ),
)
def event_files_rejected() -> dg.AssetCheckResult:
    rows = _rows(
        """select source_file, reason, is_damaged, size_bytes, last_checked_at
           from marts.event_files_rejected order by not is_damaged, source_file"""
    )
    damaged = [r for r in rows if r[2]]
    changed = [r for r in rows if r[1] == "changed_after_load"]
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.ERROR if damaged else dg.AssetCheckSeverity.WARN,
        description=(
            "every file under the events location is loaded"
            if not rows
            else f"{len(damaged)} damaged event file(s) not loaded, {len(rows) - len(damaged) - len(changed)} "
            "file(s) that are not event files"
            + (
                f", {len(changed)} loaded object(s) overwritten since (new content not loaded)"
                if changed
                else ""
            )
            + "; replace a damaged file and the next build retries it"
        ),
        metadata={
            "damaged_files": len(damaged),
            "unsupported_files": len(rows) - len(damaged) - len(changed),
            "changed_objects": len(changed),
            "files": dg.MetadataValue.md(
                md_table(
                    ["file", "reason", "bytes", "last checked"],
                    [(f, reason, size, str(at)) for f, reason, _, size, at in rows[:50]],
                    right=(2,),
                )
            ),
        },
    )


CHECKS = [
    conservation_per_file,
    event_files_rejected,
    quarantine_rate,
    no_unbilled_usage,
    invoice_total_change,
]
