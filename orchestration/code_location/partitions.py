"""Billing months as Dagster partitions: the close, the Stripe push and the finance export are partitioned
by the month their account periods start in (`YYYY-MM`). The dbt build is not partitioned: it stays
incremental by event file."""

from __future__ import annotations

import os

import dagster as dg

DEFAULT_FIRST_MONTH = "2025-01"


def first_month() -> str:
    """The first billing month there is a partition for (USAGE_BILLING_FIRST_MONTH, default 2025-01)."""
    return os.environ.get("USAGE_BILLING_FIRST_MONTH", DEFAULT_FIRST_MONTH)


# end_offset=1: the current month is a partition too, so `close --force` can close it early.
billing_months = dg.MonthlyPartitionsDefinition(start_date=first_month(), fmt="%Y-%m", end_offset=1)


def run_months(context: dg.AssetExecutionContext) -> list[str]:
    """The months this run covers: one partition, or a range (single-run backfill, the CLI, the schedule)."""
    return list(context.partition_keys)


def month_ranges(months: list[str]) -> list[tuple[str, str]]:
    """Consecutive months grouped into (first, last) ranges, so that one run covers each range."""

    def index(month: str) -> int:
        return int(month[:4]) * 12 + int(month[5:7]) - 1

    ranges: list[tuple[str, str]] = []
    for month in sorted(set(months)):
        if ranges and index(month) == index(ranges[-1][1]) + 1:
            ranges[-1] = (ranges[-1][0], month)
        else:
            ranges.append((month, month))
    return ranges


def partition_run_args(first: str, last: str) -> dict:
    """Keyword arguments of `execute_in_process`/`materialize` for one run over the months first..last:
    a partition key, or Dagster's partition-range tags."""
    if first == last:
        return {"partition_key": first}
    return {"tags": {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}}


def unknown_months(months: list[str]) -> list[str]:
    """Months that are not partitions (before USAGE_BILLING_FIRST_MONTH or after the current month)."""
    keys = set(billing_months.get_partition_keys())
    return [m for m in months if m not in keys]
