"""`usage-billing simulate --catalog DIR --period YYYY-MM`: what a month would have earned under a draft
catalog, without touching the warehouse.

How: the warehouse file is copied into a scratch folder (under the same file name, so dbt's relation
names match), the close ledger of the month is dropped *in the copy* so that its periods are priced
again, and dbt re-runs the catalog seeds, every model priced from the catalog and every model from
`int_usage_daily` on (daily usage, pricing, invoices, marts) against the copy with the draft catalog. Events are not read again: the
copy keeps the kept events and their daily rollup. The real file is only ever opened read-only. The
copy costs one file copy (seconds for a few GB) and isolates the run completely; attaching the real
file read-only from a separate DuckDB file was the alternative, but every model would have needed its
sources redirected.

Deltas compare the simulated month with the warehouse as it stands (final invoices as they were
closed, open ones as priced now), per plan and currency (fct_monthly_revenue) and per account
(fct_invoices), largest first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb

from orchestration.money import money
from orchestration.readers.statements import month_bounds


@dataclass
class Delta:
    key: str
    currency: str
    minor_units: int
    current: Decimal
    simulated: Decimal

    @property
    def delta(self) -> Decimal:
        return self.simulated - self.current


@dataclass
class Simulation:
    period: str
    per_plan: list[Delta]
    per_account: list[Delta]
    seconds: float


def _dbt(args: list[str], env: dict[str, str], project_dir: Path) -> None:
    from orchestration.code_location.resources import dbt_executable

    result = subprocess.run(
        [dbt_executable(), *args], cwd=project_dir, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"dbt {args[0]} on the draft catalog failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
        )


def _totals(db: Path, period: str) -> tuple[dict, dict, dict[str, int]]:
    first, _ = month_bounds(period)
    after = month_bounds(period)[1]
    con = duckdb.connect(str(db), read_only=True)
    try:
        minor = dict(con.execute("select currency, minor_units from catalog.currencies").fetchall())
        plans = {
            (p, c): v
            for p, c, v in con.execute(
                "select plan_id, currency, net_amount from marts.fct_monthly_revenue where revenue_month = ?",
                [first],
            ).fetchall()
        }
        accounts = {
            (a, c): v
            for a, c, v in con.execute(
                """select account_id, currency, sum(total) from marts.fct_invoices
                   where period_start >= ? and period_start < ? group by account_id, currency""",
                [first, after],
            ).fetchall()
        }
    finally:
        con.close()
    return plans, accounts, minor


def _deltas(current: dict, simulated: dict, minor: dict[str, int]) -> list[Delta]:
    keys = set(current) | set(simulated)
    out = [
        Delta(k, c, minor.get(c, 2), current.get((k, c), Decimal(0)), simulated.get((k, c), Decimal(0)))
        for k, c in keys
    ]
    return sorted(out, key=lambda d: (-abs(d.delta), d.currency, d.key))


def simulate(db_path: Path, catalog_dir: Path, period: str, keep: Path | None = None) -> Simulation:
    from orchestration.warehouse.project import REPO_ROOT

    started = time.monotonic()
    if not (catalog_dir / "prices.csv").exists():
        raise FileNotFoundError(f"{catalog_dir} has no prices.csv: not a catalog folder")
    scratch = Path(tempfile.mkdtemp(prefix="usage-billing-simulate-")) if keep is None else keep
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        copy = scratch / db_path.name
        shutil.copyfile(db_path, copy)
        wal = db_path.with_name(db_path.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
        first, after = month_bounds(period)
        con = duckdb.connect(str(copy))
        try:
            # In the copy only: the month's closed periods are priced again like open ones.
            for table in ("final_invoice_lines", "final_invoices"):
                con.execute(
                    f"delete from ledger.{table} where period_start >= ? and period_start < ?", [first, after]
                )
        finally:
            con.close()
        draft = scratch / "catalog"
        shutil.copytree(catalog_dir, draft, dirs_exist_ok=True)
        env = {
            **os.environ,
            "USAGE_BILLING_DUCKDB": str(copy),
            "USAGE_BILLING_CATALOG": str(draft),
            "USAGE_BILLING_EVENTS": str(scratch / "no-events" / "*"),
        }
        common = [
            "--profiles-dir",
            str(REPO_ROOT),
            "--project-dir",
            str(REPO_ROOT),
            "--target-path",
            str(scratch / "target"),
            "--log-path",
            str(scratch / "logs"),
            "--quiet",
        ]
        # The draft is this run's own copy in scratch, which dbt may write its compiled seeds over.
        scratch_catalog = ["--vars", "{catalog_is_a_scratch_copy: true}"]
        _dbt(["seed", "--full-refresh", *scratch_catalog, *common], env, REPO_ROOT)
        # Every model priced from the catalog (each one refs int_catalog_errors, directly or through its
        # parents) and every model after the daily usage: nothing priced keeps the live catalog's rules.
        _dbt(["run", "--select", "int_catalog_errors+", "int_usage_daily+", *common], env, REPO_ROOT)
        cur_plans, cur_accounts, minor = _totals(db_path, period)
        sim_plans, sim_accounts, _ = _totals(copy, period)
    finally:
        if keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    return Simulation(
        period=period,
        per_plan=_deltas(cur_plans, sim_plans, minor),
        per_account=_deltas(cur_accounts, sim_accounts, minor),
        seconds=time.monotonic() - started,
    )


def render_text(sim: Simulation, catalog_dir: Path) -> str:
    out = [f"What-if for periods starting in {sim.period}: current catalog vs {catalog_dir}"]
    for title, rows in (("Per plan", sim.per_plan), ("Per account", sim.per_account)):
        out.append(f"{title} (largest change first)")
        out.append(f"  {'':<14} {'cur':<4} {'current':>14} {'simulated':>14} {'delta':>14}")
        for d in rows:
            out.append(
                f"  {d.key:<14} {d.currency:<4} {money(d.current, d.currency, d.minor_units):>14} "
                f"{money(d.simulated, d.currency, d.minor_units):>14} "
                f"{money(d.delta, d.currency, d.minor_units, signed=True):>14}"
            )
    totals: dict[str, list[Decimal]] = {}
    for d in sim.per_account:
        t = totals.setdefault(d.currency, [Decimal(0), Decimal(0), d.minor_units])
        t[0] += d.current
        t[1] += d.simulated
    out.append("Total")
    for cur, (c, s, mu) in sorted(totals.items()):
        out.append(
            f"  {cur:<19} {money(c, cur, mu):>14} {money(s, cur, mu):>14} {money(s - c, cur, mu, signed=True):>14}"
        )
    out.append(f"(simulated in {sim.seconds:.0f}s on a copy of the warehouse; the warehouse was not changed)")
    return "\n".join(out)
