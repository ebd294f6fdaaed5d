"""Schedules: the monthly close and push.

An account's billing period ends on its anchor day (1–28), so the periods that start in a month end
anywhere in the next one. On the 4th of month N at 06:00 UTC the schedule therefore closes the periods that
started in months N-2 and N-1 whose grace window (3 days) has passed: every period of N-2 (they all ended by
the 28th of N-1) and those of N-1 that ended by the 1st of N. Closing is idempotent (an invoice closes
once), so each period is closed, and then pushed to Stripe, by the first run after its grace window.
"""

from datetime import date

import dagster as dg


def months_to_close(today: date) -> list[str]:
    """The two months before `today`'s month, oldest first, as YYYY-MM."""
    months = []
    for back in (2, 1):
        index = today.year * 12 + (today.month - 1) - back
        months.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
    return months


def close_and_push_run_config(today: date) -> dict:
    months = months_to_close(today)
    return {
        "ops": {
            "close_billing_periods": {"config": {"periods": months}},
            "stripe_push": {"config": {"periods": months}},
        }
    }


@dg.schedule(
    job_name="close_and_push_job",
    cron_schedule="0 6 4 * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Monthly: close the billing periods past their grace window, then push them to Stripe.",
)
def monthly_close_and_push(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    today = context.scheduled_execution_time.date()
    return dg.RunRequest(
        run_key=f"close-and-push-{today.isoformat()}",
        run_config=close_and_push_run_config(today),
        tags={"periods": ",".join(months_to_close(today))},
    )
