"""Resources shared by the assets: the dbt CLI bound to this repository's project, and Stripe."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging.version import Version

from orchestration.warehouse.project import dbt_project, on_duckdb, target_dir


def _dbt_beside_python() -> Path:
    """Where the dbt of the dbt-core package installed with this Python (the project's virtualenv) is."""
    return Path(sys.executable).parent / "dbt"


def dbt_executable() -> str:
    """The dbt installed beside this Python (the project's virtualenv), else the one on PATH."""
    beside = _dbt_beside_python()
    if beside.exists():
        return str(beside)
    return shutil.which("dbt") or "dbt"


class UsageBillingDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource, without the in-process dbt adapter on DuckDB and without a
    `dbt --version` run before each command (`_cli_version`).

    dagster-dbt loads the project and a dbt adapter in the Dagster process before every dbt command
    (about 4 s, before dbt itself starts) for `fetch_row_counts()` and column metadata. On DuckDB the
    row counts are read after the build instead (see `usage_billing_dbt_assets`), so the adapter is
    only start-up time, and it would hold the warehouse open in this process."""

    def _initialize_dbt_core_adapter(self, args):
        if on_duckdb():
            return None
        return super()._initialize_dbt_core_adapter(args)

    @cached_property
    def _cli_version(self) -> Version:
        """dagster-dbt runs `dbt --version` before every dbt command to learn which dbt it drives: a
        second dbt start (about 2.4 s) that also asks PyPI for the latest release. The dbt beside this
        Python is the dbt-core package installed here, so its version is read from the package instead."""
        if Path(self.dbt_executable) == _dbt_beside_python():
            return Version(installed_version("dbt-core"))
        return super()._cli_version


def dbt_resource() -> DbtCliResource:
    return UsageBillingDbtCliResource(
        project_dir=dbt_project,
        profiles_dir=str(dbt_project.profiles_dir),
        dbt_executable=dbt_executable(),
    )


def release_dbt_duckdb_connections() -> None:
    """Close the DuckDB database that dbt-duckdb keeps open in this process.

    Where an in-process dbt adapter was created (`fetch_row_counts()` on another target, or a
    DuckDB one opened by other code), dbt-duckdb keeps that database open in a class-level
    environment for the life of the process. Left open,
    it holds DuckDB's write lock, so the next `dbt build` subprocess (a second materialization in
    the same process, or the CLI's summary) could not open the file.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter: nothing to release
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            # A filesystem the events plugin registered (object storage) is let go before the database
            # closes.
            conn = getattr(env, "conn", None)
            with contextlib.suppress(Exception):
                for name in conn.list_filesystems() if conn is not None else []:
                    conn.unregister_filesystem(name)
            env.close()
            DuckDBConnectionManager._ENV = None


CATALOG_FILES = (
    "meters.csv",
    "currencies.csv",
    "plans.csv",
    "prices.csv",
    "price_tiers.csv",
    "accounts.csv",
    "account_plans.csv",
    "credit_grants.csv",
)

# Catalog files a catalog may leave out: the gateway-log sources (docs/gateway_logs.md). A staged catalog
# without them gets the project's own (seeds/: header only, no mapped source and no API key).
OPTIONAL_CATALOG_FILES = ("event_sources.csv", "api_keys.csv")


def stage_catalog() -> str | None:
    """Copy a catalog given by USAGE_BILLING_CATALOG into the project and return its relative path.

    dbt writes each seed's "compiled" copy to target/compiled/<project>/<seed path>; with an
    absolute seed path that join lands on the user's own CSV files and blanks them. dbt therefore
    only ever sees a seed path inside the project: a copy under target/catalog/staged.
    """
    source = os.environ.get("USAGE_BILLING_CATALOG")
    if not source:
        return None
    project_dir = Path(dbt_project.project_dir).resolve()
    # Relative paths are relative to the project (dbt's own working directory); the CLI makes a
    # user's relative path absolute before it gets here.
    source_dir = (project_dir / source).resolve()
    if source_dir.is_relative_to(project_dir):
        # Already inside the project (seeds/, or a catalog the CLI staged): dbt can use it as it is.
        return str(source_dir.relative_to(project_dir))
    missing = [name for name in CATALOG_FILES if not (source_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"USAGE_BILLING_CATALOG={source} lacks catalog file(s): {', '.join(missing)} (CONTRACT.md §2)"
        )
    # One stable path: a path that changed every run would defeat dbt's partial parsing.
    staged = target_dir() / "catalog" / "staged"
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    for name in CATALOG_FILES:
        shutil.copyfile(source_dir / name, staged / name)
    for name in OPTIONAL_CATALOG_FILES:
        given = source_dir / name
        shutil.copyfile(given if given.is_file() else project_dir / "seeds" / name, staged / name)
    add_missing_plan_settings(staged / "plans.csv")
    return str(staged.relative_to(project_dir))


# plans.csv columns added after the first release (the gateway's entitlements, docs/entitlements.md): a
# catalog written before them still loads, with every setting off.
PLAN_SETTINGS = (
    "block_on_hard_limit",
    "block_on_spend_cap",
    "block_on_no_credits",
    "block_overdue_days",
    "when_stale",
    "stale_after_hours",
)


def add_missing_plan_settings(plans_csv: Path) -> None:
    """Append the PLAN_SETTINGS columns a staged plans.csv lacks, blank (= off) on every row."""
    import csv

    with plans_csv.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    missing = [name for name in PLAN_SETTINGS if name not in rows[0]]
    if not missing:
        return
    rows = [rows[0] + missing] + [row + [""] * len(missing) for row in rows[1:] if row]
    with plans_csv.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


class StripeResource(dg.ConfigurableResource):
    """Where and how the push talks to Stripe. The key comes from the environment only
    (`dg.EnvVar("STRIPE_API_KEY")`); it is never part of run config, logs or metadata."""

    api_key: str | None = None
    api_base: str = "https://api.stripe.com"
    max_network_retries: int = 5
    retry_delay_seconds: float = 0.5

    def client(self, *, live: bool = False):
        from orchestration.stripe.client import StripeApi

        return StripeApi(
            self.api_key or "",
            api_base=self.api_base,
            live=live,
            max_network_retries=self.max_network_retries,
            retry_delay=self.retry_delay_seconds,
        )


def stripe_resource() -> StripeResource:
    """STRIPE_API_KEY and STRIPE_API_BASE from the environment (default: api.stripe.com).

    Unset variables are left out rather than passed as `EnvVar`s, which Dagster would refuse to
    resolve: a dry run needs no key, and the push says plainly that the key is missing."""
    settings = {}
    if os.environ.get("STRIPE_API_KEY"):
        settings["api_key"] = dg.EnvVar("STRIPE_API_KEY")
    if os.environ.get("STRIPE_API_BASE"):
        settings["api_base"] = dg.EnvVar("STRIPE_API_BASE")
    if os.environ.get("USAGE_BILLING_STRIPE_RETRIES"):
        settings["max_network_retries"] = int(os.environ["USAGE_BILLING_STRIPE_RETRIES"])
    if os.environ.get("USAGE_BILLING_STRIPE_RETRY_DELAY"):
        settings["retry_delay_seconds"] = float(os.environ["USAGE_BILLING_STRIPE_RETRY_DELAY"])
    return StripeResource(**settings)
