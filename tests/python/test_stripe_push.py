"""The Stripe push against the local server (a real HTTP server on loopback, the real SDK, no mocks).

The warehouse is written by hand (stripe_fixtures.INVOICES): USD, EUR and JPY invoices, negative
credit lines, a zero-amount line, a test account, a zero-total invoice, open invoices and an invoice of
another month. Faults are injected by an HTTP proxy between the push and the server.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from stripe_fixtures import (
    TEST_KEY,
    Fault,
    FaultProxy,
    LocalStripe,
    build_warehouse,
    expected_pushes,
    invoice_id,
    stripe_state,
)

PERIOD = "2026-01"
USAGE_BILLING = str(Path(sys.executable).parent / "usage-billing")


@dataclass
class StripeEnv:
    server: LocalStripe
    proxy: FaultProxy
    db_path: Path
    root: Path
    customer_f: str

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(self.db_path), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


def _env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, idempotency_ttl: float | None = None
) -> Iterator[StripeEnv]:
    server = LocalStripe(tmp_path / "server.log", idempotency_ttl=idempotency_ttl)
    proxy = FaultProxy(server.port)
    try:
        # acct_f has a Stripe customer in the catalog; the others get one from the push.
        customer_f = server.client().v1.customers.create(params={"name": "Umbrella Data GmbH"}).id
        db_path = tmp_path / "warehouse.duckdb"
        build_warehouse(db_path, {"acct_f": customer_f})
        (tmp_path / "dagster_home").mkdir()
        monkeypatch.setenv("USAGE_BILLING_DUCKDB", str(db_path))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        monkeypatch.setenv("STRIPE_API_KEY", TEST_KEY)
        monkeypatch.setenv("STRIPE_API_BASE", proxy.url)
        monkeypatch.setenv("USAGE_BILLING_STRIPE_RETRY_DELAY", "0.01")
        yield StripeEnv(server, proxy, db_path, tmp_path, customer_f)
    finally:
        proxy.stop()
        server.stop()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeEnv]:
    yield from _env(tmp_path, monkeypatch)


def push(*, dry_run: bool = False, live: bool = False) -> dg.ExecuteInProcessResult:
    """The stripe_push asset through Dagster, in process (what `usage-billing push` runs)."""
    from orchestration.code_location.assets.stripe import stripe_push
    from orchestration.code_location.resources import stripe_resource

    return dg.materialize(
        [stripe_push],
        resources={"stripe": stripe_resource()},
        run_config={"ops": {"stripe_push": {"config": {"dry_run": dry_run, "live": live}}}},
        partition_key=PERIOD,
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    [materialization] = result.asset_materializations_for_node("stripe_push")
    return {k: v.value for k, v in materialization.metadata.items()}


def failure_descriptions(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        e.step_failure_data.user_failure_data.description
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.user_failure_data
    ]


def assert_stripe_matches_warehouse(env: StripeEnv, *, also_failed: set[str] = frozenset()) -> None:
    """Exactly one finalized Stripe invoice per pushed invoice, with the warehouse total, and exactly one
    invoice item per non-zero line; nothing for anything else."""
    expected = {k: v for k, v in expected_pushes().items() if k not in also_failed}
    invoices, items = stripe_state(env.server.client())
    assert set(invoices) == set(expected)
    for inv_id, (total_minor, nonzero_lines, currency) in expected.items():
        [stripe_invoice] = invoices[inv_id]
        assert (stripe_invoice.total, stripe_invoice.currency) == (total_minor, currency), inv_id
        assert stripe_invoice.status in ("open", "paid")
        lines = [line_id for line_id in items if line_id.startswith(inv_id + "_")]
        assert len(lines) == nonzero_lines, inv_id
        assert all(len(items[line_id]) == 1 for line_id in lines), inv_id
        assert all(items[line_id][0].invoice == stripe_invoice.id for line_id in lines)
        assert sum(items[line_id][0].amount for line_id in lines) == total_minor
    assert sum(len(v) for v in items.values()) == sum(n for _, n, _ in expected.values())


def test_push_exactly_once_and_reconciled(env: StripeEnv) -> None:
    result = push()
    assert result.success, failure_descriptions(result)
    assert_stripe_matches_warehouse(env)

    # Exact minor units: JPY has none, credits are negative items, the zero-amount line is not sent.
    jpy = invoice_id("acct_b'jp", date(2026, 1, 10))
    assert env.query(
        "select invoice_line_id, amount_minor, currency, status from ledger.stripe_push_lines "
        "where invoice_id = ? order by 1",
        [jpy],
    ) == [
        (f"{jpy}_l1", 1000, "jpy", "finalized"),
        (f"{jpy}_l2", 1571, "jpy", "finalized"),
        (f"{jpy}_l3", -71, "jpy", "finalized"),
    ]
    acme = "inv_acct_a_20260101"
    assert [
        r[0]
        for r in env.query(
            f"select invoice_line_id from ledger.stripe_push_lines where invoice_id = '{acme}' order by 1"
        )
    ] == [
        f"{acme}_l1",
        f"{acme}_l3",
        f"{acme}_l4",
    ]
    assert env.query("select invoice_id, status, reason from ledger.stripe_push_invoices order by 1") == [
        ("inv_acct_a_20260101", "pushed", None),
        ("inv_acct_b'jp_20260110", "pushed", None),
        ("inv_acct_d_20260101", "skipped", "test account"),
        ("inv_acct_e_20260101", "skipped", "zero total"),
        ("inv_acct_f_20260101", "pushed", None),
    ]
    # Customers: the catalog's for acct_f, new ones (metadata account_id) recorded for the others.
    customers = dict(env.query("select account_id, stripe_customer_id from ledger.stripe_customers"))
    assert set(customers) == {"acct_a", "acct_b'jp"}
    assert env.server.client().v1.customers.retrieve(customers["acct_b'jp"]).metadata.to_dict() == {
        "account_id": "acct_b'jp"
    }
    assert env.query(
        "select stripe_customer_id from ledger.stripe_push_invoices where invoice_id = 'inv_acct_f_20260101'"
    ) == [(env.customer_f,)]
    # Every Stripe id in the ledger is the one Stripe holds.
    invoices, items = stripe_state(env.server.client())
    for line_id, item_id, stripe_invoice_id in env.query(
        "select invoice_line_id, stripe_invoice_item_id, stripe_invoice_id from ledger.stripe_push_lines"
    ):
        assert items[line_id][0].id == item_id and items[line_id][0].invoice == stripe_invoice_id

    recon = env.query(
        "select invoice_id, currency, warehouse_total, stripe_total, status from marts.stripe_reconciliation order by 1"
    )
    assert [(r[0], r[-1]) for r in recon] == [
        ("inv_acct_a_20260101", "match"),
        ("inv_acct_b'jp_20260110", "match"),
        ("inv_acct_d_20260101", "skipped"),
        ("inv_acct_e_20260101", "skipped"),
        ("inv_acct_f_20260101", "match"),
    ]
    assert recon[0][2] == recon[0][3] == Decimal("98.50")
    meta = metadata(result)
    assert (meta["invoices_pushed"], meta["invoices_failed"], meta["items_created"]) == (3, 0, 8)
    assert meta["amount_pushed"] == "20.00 EUR, 2500 JPY, 98.50 USD"
    assert set(meta["stripe_invoice_ids"]) == set(expected_pushes())
    [check] = result.get_asset_check_evaluations()
    assert check.passed

    # Again: reads only, nothing new in Stripe, same ledger.
    posts_before = env.proxy.count
    seen: list[str] = []
    env.proxy.fault = lambda n, method, path, body, key: seen.append(method) and None
    ledger = env.query("select * exclude (pushed_at) from ledger.stripe_push_lines order by all")
    again = push()
    assert again.success
    assert env.proxy.count > posts_before and set(seen) == {"GET"}
    assert_stripe_matches_warehouse(env)
    assert env.query("select * exclude (pushed_at) from ledger.stripe_push_lines order by all") == ledger
    assert metadata(again)["items_created"] == 0


def test_dry_run_sends_nothing(env: StripeEnv) -> None:
    result = push(dry_run=True)
    assert result.success
    assert env.proxy.count == 0
    summary = metadata(result)["summary"]
    assert "POST /v1/invoiceitems" in summary and "'amount': 1571" in summary and "'amount': -2050" in summary
    assert "inv_acct_d_20260101: skip (test account)" in summary
    assert "inv_acct_c" not in summary  # open invoices are never pushed
    assert env.query("select count(*) from information_schema.schemata where schema_name = 'ledger'") == [
        (0,)
    ]
    invoices, items = stripe_state(env.server.client())
    assert invoices == {} and items == {}


def test_live_key_refused_without_live(env: StripeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    live_key = "sk_live_DO_NOT_LEAK_0123456789"
    monkeypatch.setenv("STRIPE_API_KEY", live_key)
    result = push()
    assert not result.success
    [description] = failure_descriptions(result)
    assert "--live" in description and live_key not in description
    assert all(live_key not in (e.message or "") for e in result.all_events)
    assert env.proxy.count == 0
    monkeypatch.setenv("STRIPE_API_KEY", "rk_live_DO_NOT_LEAK_0123456789")
    assert not push().success and env.proxy.count == 0


def test_429_and_500_are_retried_and_the_result_is_exact(env: StripeEnv) -> None:
    # 429 (rate limited) before the server sees the request; 500 before it, and 500 *after* the server
    # did the work (the answer is lost): the retry carries the same idempotency key.
    def fault(n: int, method: str, path: str, body: bytes, key: str) -> Fault | None:
        if n % 5 == 1:
            return Fault(429, body=b'{"error": {"type": "rate_limit_error", "message": "slow down"}}')
        if n % 3 == 0:
            return Fault(500, before=False)
        if n % 7 == 2:
            return Fault(500)
        return None

    env.proxy.fault = fault
    result = push()
    assert result.success, failure_descriptions(result)
    injected = {(status, method) for _, method, _, status in env.proxy.injected}
    assert {(429, "POST"), (500, "POST"), (429, "GET"), (500, "GET")} <= injected
    assert_stripe_matches_warehouse(env)
    assert {r[0] for r in env.query("select status from marts.stripe_reconciliation")} == {"match", "skipped"}


def _all_text(env: StripeEnv) -> str:
    """Every varchar in the ledger and reconciliation tables."""
    texts = []
    for schema, table in env.query(
        "select table_schema, table_name from information_schema.tables where table_schema in ('ledger', 'marts')"
    ):
        texts += [str(row) for row in env.query(f'select * from "{schema}"."{table}"')]
    return "\n".join(texts)


def test_permanent_4xx_fails_one_invoice_and_the_key_never_leaks(env: StripeEnv) -> None:
    canary = "sk_test_CANARY_7f3a9c2e51d04b6b"
    customer_f = env.customer_f

    # Stripe refuses every request about acct_f's customer; the error echoes the key it was sent
    # (the worst a server could do): the push must still never write or print it.
    def fault(n: int, method: str, path: str, body: bytes, key: str) -> Fault | None:
        if customer_f in path or customer_f.encode() in body:
            message = f"No such customer: '{customer_f}' (request made with key {key})"
            error = {
                "error": {"type": "invalid_request_error", "code": "resource_missing", "message": message}
            }
            return Fault(400, body=json.dumps(error).encode())
        return None

    env.proxy.fault = fault
    run = subprocess.run(
        [USAGE_BILLING, "push", "--period", PERIOD],
        env={**os.environ, "STRIPE_API_KEY": canary},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert canary not in run.stdout + run.stderr
    assert "inv_acct_f_20260101" in run.stderr and "HTTP 400" in run.stderr

    # The failed invoice has its reason; the others were pushed.
    statuses = dict(
        (r[0], (r[1], r[2]))
        for r in env.query("select invoice_id, status, reason from ledger.stripe_push_invoices")
    )
    status, reason = statuses["inv_acct_f_20260101"]
    assert status == "failed" and "HTTP 400" in reason and "resource_missing" in reason
    assert "[STRIPE_API_KEY]" in reason
    assert statuses["inv_acct_a_20260101"][0] == statuses["inv_acct_b'jp_20260110"][0] == "pushed"
    assert_stripe_matches_warehouse(env, also_failed={"inv_acct_f_20260101"})
    assert env.query(
        "select status from marts.stripe_reconciliation where invoice_id = 'inv_acct_f_20260101'"
    ) == [("failed",)]

    # Nowhere: not in the warehouse, not in Dagster's run storage and event logs, not in the output.
    assert canary not in _all_text(env)
    assert canary.encode() not in env.db_path.read_bytes()
    for path in (env.root / "dagster_home").rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
    assert any((env.root / "dagster_home").rglob("*")), "the run was recorded in DAGSTER_HOME"


def test_killed_pushes_resume_exactly_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Idempotency keys are forgotten at once (as Stripe does after 24 hours): exactly-once rests on
    # listing what Stripe holds and matching our metadata. Each run is SIGKILLed right after its k-th
    # Stripe request reached the server, before the answer: the object exists, the push never knew.
    for env in _env(tmp_path, monkeypatch, idempotency_ttl=0):
        seed = random.randrange(10**6)
        rng = random.Random(seed)
        kills = 0
        # A first run makes 22+ requests, and any run at least 9 (listings and the read-back): every
        # run is killed, at a request drawn at random.
        for attempt in range(5):
            env.proxy.count = 0
            process = subprocess.Popen(
                [USAGE_BILLING, "push", "--period", PERIOD, "--log-level", "WARNING"],
                env=dict(os.environ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            env.proxy.kill_at = (rng.randint(1, 18 if attempt == 0 else 9), process.pid)
            returncode = process.wait(timeout=120)
            env.proxy.kill_at = None
            kills += returncode == -9
        final = subprocess.run(
            [USAGE_BILLING, "push", "--period", PERIOD], env=dict(os.environ), capture_output=True, text=True
        )
        assert final.returncode == 0, f"seed {seed}: {final.stdout}{final.stderr}"
        assert kills == 5, f"seed {seed}: only {kills} run(s) were killed"
        assert_stripe_matches_warehouse(env)
        lines = env.query("select status, count(*) from ledger.stripe_push_lines group by 1")
        assert lines == [("finalized", 8)], f"seed {seed}"
        assert {r[0] for r in env.query("select status from marts.stripe_reconciliation")} == {
            "match",
            "skipped",
        }


def test_cli_dry_run_prints_the_plan(env: StripeEnv) -> None:
    run = subprocess.run(
        [USAGE_BILLING, "push", "--period", PERIOD, "--dry-run", "--log-level", "WARNING"],
        env={k: v for k, v in os.environ.items() if k != "STRIPE_API_KEY"},  # a dry run needs no key
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "dry run: nothing sent" in run.stdout and "Would send:" in run.stdout
    assert "POST /v1/invoices/<id>/finalize" in run.stdout
    assert env.proxy.count == 0


def test_registered_downstream_of_the_invoice_lines() -> None:
    from orchestration.code_location.definitions import defs

    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey("stripe_push"))
    assert dg.AssetKey("fct_invoice_lines") in node.parent_keys
    assert dg.AssetCheckKey(dg.AssetKey("stripe_push"), "stripe_reconciliation") in node.check_keys
    assert defs.resolve_job_def("push_job") is not None
