"""Schedules: an hourly refresh (build), the daily full-history checks, the monthly close and push, and the
hourly payment-status read. All are off until turned on.

An account's billing period ends on its anchor day (1–28), so the periods that start in a month end
anywhere in the next one. On the 4th of month N at 06:00 UTC the monthly schedule therefore closes the
periods that started in months N-2 and N-1 whose grace window (3 days) has passed: every period of N-2
(they all ended by the 28th of N-1) and those of N-1 that ended by the 1st of N. Closing is idempotent (an
invoice closes once), so each period is closed, pushed to Stripe and exported by the first run after its
grace window. The two months are one run over the partition range N-2..N-1, so the two closes never
compete for the warehouse file.

Settings (read when the code location loads):
- USAGE_BILLING_REFRESH_CRON   the refresh's cron (default `0 * * * *`, every hour)
- USAGE_BILLING_CLOSE_CRON     the close's cron (default `0 6 4 * *`); keep it past the grace window
- USAGE_BILLING_DEEP_CHECKS_CRON  the full-history checks' cron (default `30 3 * * *`, daily at 03:30 UTC)
- USAGE_BILLING_PAYMENT_STATUS_CRON  the payment-status read's cron (default `30 * * * *`, hourly at :30)
- USAGE_BILLING_GRACE_DAYS     days after a period's end before it may close (default 3)
- USAGE_BILLING_EXPORT_FORMAT  the finance export the monthly run writes: csv (default) or parquet
"""

from __future__ import annotations

import os
from datetime import date

import dagster as dg

DEFAULT_REFRESH_CRON = "0 * * * *"
DEFAULT_CLOSE_CRON = "0 6 4 * *"
DEFAULT_DEEP_CHECKS_CRON = "30 3 * * *"
DEFAULT_PAYMENT_STATUS_CRON = "30 * * * *"


def grace_days() -> int:
    return int(os.environ.get("USAGE_BILLING_GRACE_DAYS", "3"))


def months_to_close(today: date) -> list[str]:
    """The two months before `today`'s month, oldest first, as YYYY-MM."""
    months = []
    for back in (2, 1):
        index = today.year * 12 + (today.month - 1) - back
        months.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
    return months


def close_and_push_run_config() -> dict:
    return {
        "ops": {
            "close_billing_periods": {"config": {"grace_days": grace_days()}},
            "finance_export": {"config": {"format": os.environ.get("USAGE_BILLING_EXPORT_FORMAT", "csv")}},
        }
    }


def close_and_push_tags(today: date) -> dict[str, str]:
    first, last = months_to_close(today)
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


@dg.schedule(
    job_name="close_and_push_job",
    cron_schedule=os.environ.get("USAGE_BILLING_CLOSE_CRON", DEFAULT_CLOSE_CRON),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Monthly: close the billing periods of the two previous months that are past their grace window, "
        "push them to Stripe and export them for finance (one run over both months)."
    ),
)
def monthly_close_and_push(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = context.scheduled_execution_time.date()
    return dg.RunRequest(
        run_key=f"close-and-push-{today.isoformat()}",
        run_config=close_and_push_run_config(),
        tags=close_and_push_tags(today),
    )


def _clock_schedule(name: str, job_name: str, cron_setting: str, default_cron: str, description: str):
    """A schedule of a whole job on a clock: cron from an environment variable, UTC, off until turned on."""
    return dg.ScheduleDefinition(
        name=name,
        job_name=job_name,
        cron_schedule=os.environ.get(cron_setting, default_cron),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=description,
    )


hourly_refresh = _clock_schedule(
    "hourly_refresh",
    "build_job",
    "USAGE_BILLING_REFRESH_CRON",
    DEFAULT_REFRESH_CRON,
    "Load new event files and rebuild the warehouse (same run as the sensor's, on a clock).",
)

daily_deep_checks = _clock_schedule(
    "daily_deep_checks",
    "deep_checks",
    "USAGE_BILLING_DEEP_CHECKS_CRON",
    DEFAULT_DEEP_CHECKS_CRON,
    "Daily: every dbt data test over the whole history (each build tests the rows it loaded); "
    "a failure fails the run and names the tests.",
)

hourly_payment_status = _clock_schedule(
    "hourly_payment_status",
    "payment_status_job",
    "USAGE_BILLING_PAYMENT_STATUS_CRON",
    DEFAULT_PAYMENT_STATUS_CRON,
    "Read the payment status of open pushed invoices from Stripe, rebuild receivables and entitlements, "
    "and publish the entitlements document.",
)
