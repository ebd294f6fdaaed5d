"""Closing the loop end to end: push to the local Stripe server, read the payment status back, age the
receivables, block overdue accounts in the entitlements, and unblock them when Stripe says they paid.
A webhook without a valid signature is refused and reads nothing; a signed one triggers the read."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import Warehouse
from stripe_fixtures import TEST_KEY, LocalStripe, signed_webhook

USAGE_BILLING = str(Path(sys.executable).parent / "usage-billing")
WEBHOOK_SECRET = "whsec_usage_billing_tests"


def _cli(capsys: pytest.CaptureFixture, *args: str) -> str:
    from orchestration import cli

    capsys.readouterr()
    code = cli.main(list(args))
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def _row(out: str, first: str) -> list[str]:
    """The cells of the printed line that starts with `first` (split on runs of 2+ spaces)."""
    (line,) = [line for line in out.splitlines() if line.startswith(first)]
    return re.split(r"\s{2,}", line.strip())


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_payment_status_receivables_and_entitlements(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    warehouse.write_events(
        "events.ndjson",
        [
            # acct_0002 (payg, anchor 15, block_overdue_days 30): Jan 15 – Feb 15, 60,000 calls:
            # (60,000 − 50,000 free) × $0.001 = $10.00.
            {"event_id": "a", "account_id": "acct_0002", "timestamp": "2026-01-20T10:00:00Z", "units": 60000},
            # acct_0005 (jp_starter, anchor 10, block_overdue_days 30): Jan 10 – Feb 10:
            # ¥1,000 base fee + 7 × ¥0.15 = ¥1,001.05 → ¥1,001.
            {"event_id": "b", "account_id": "acct_0005", "timestamp": "2026-01-11T10:00:00Z", "units": 7},
            # as_of 2026-02-20: acct_0002 is in its period Feb 15 – Mar 15, acct_0005 in Feb 10 – Mar 10.
            {"event_id": "c", "account_id": "acct_0002", "timestamp": "2026-02-20T10:00:00Z", "units": 1},
        ],
    )
    # Only these plan assignments, so that January has two invoices to push (and a test account).
    (warehouse.catalog_dir / "account_plans.csv").write_text(
        "account_id,plan_id,valid_from,valid_to\n"
        "acct_0002,payg,2026-01-15,\nacct_0005,jp_starter,2026-01-10,\nacct_0008,pro,2026-01-01,\n"
    )
    warehouse.build()
    warehouse.close("2026-01", force=True)
    document_path = tmp_path / "gateway" / "entitlements.json"
    server = LocalStripe(tmp_path / "stripe.log")
    webhooks = None
    try:
        monkeypatch.setenv("STRIPE_API_KEY", TEST_KEY)
        monkeypatch.setenv("STRIPE_API_BASE", server.url)
        monkeypatch.setenv("USAGE_BILLING_ENTITLEMENTS", str(document_path))
        importlib.reload(
            importlib.import_module("orchestration.code_location.definitions")
        )  # the Stripe resource reads env

        # The push reads the statuses back at once: both invoices open, due the day Stripe finalized them
        # (charged automatically: no due date), so nothing is overdue yet.
        out = _cli(capsys, "push", "--period", "2026-01")
        assert "payment status: 2 invoice(s) read from Stripe (2 open), 2 new or changed" in out
        rows = warehouse.query(
            "select account_id, stripe_status, amount_due_minor, amount_paid_minor, amount_remaining_minor,"
            " due_date, cast(finalized_at as date) from ledger.stripe_invoice_status order by account_id"
        )
        finalized = rows[0][6]
        assert [r[:6] for r in rows] == [
            ("acct_0002", "open", 1000, 0, 1000, None),
            ("acct_0005", "open", 1001, 0, 1001, None),
        ]
        document = json.loads(document_path.read_text())
        assert document["blocked"] == 0

        # 31 days after the due date: more than the plans' 30, so both accounts are blocked.
        aged_on = finalized + timedelta(days=31)
        out = _cli(capsys, "payment-status", "--aged-on", aged_on.isoformat())
        assert "2 invoice(s) read from Stripe (2 open), 0 new or changed" in out
        out = _cli(capsys, "receivables")
        assert f"aged on {aged_on}" in out
        assert "2 pushed invoice(s): 2 outstanding, 2 open" in out
        # Buckets 0-30, 31-60, 61-90, 90+, outstanding: $10.00 and ¥1,001, both 31 days overdue.
        assert _row(out, "JPY") == ["JPY", "0", "1,001", "0", "0", "1,001"]
        assert _row(out, "USD") == ["USD", "0.00", "10.00", "0.00", "0.00", "10.00"]
        stripe_ids = dict(
            warehouse.query("select account_id, stripe_invoice_id from ledger.stripe_invoice_status")
        )
        invoice_2 = warehouse.query(
            "select invoice_id from marts.fct_invoices where account_id = 'acct_0002'"
        )
        assert _row(out, invoice_2[0][0]) == [
            invoice_2[0][0],
            "acct_0002",
            "2026-01-15",
            "open",
            str(finalized),
            "10.00 USD",
            "31",
            "31-60",
        ]
        out = _cli(capsys, "entitlements")
        assert "11 account(s): 2 blocked (invoice_overdue 2)" in out
        # spend so far in Feb 15 – Mar 15: 1 call in the free tier = 0.00; no cap; no credit; $10.00 overdue.
        assert _row(out, "acct_0002") == [
            "acct_0002", "block", "payg", "2026-02-15 – 2026-03-15", "0.00", "-", "0.00", "10.00", "31",
            "invoice_overdue",
        ]  # fmt: skip
        # Feb 10 – Mar 10 on jp_starter: no usage yet = ¥0; ¥1,001 overdue.
        assert _row(out, "acct_0005") == [
            "acct_0005", "block", "jp_starter", "2026-02-10 – 2026-03-10", "0", "-", "0", "1,001", "31",
            "invoice_overdue",
        ]  # fmt: skip
        document = json.loads(document_path.read_text())
        body = {k: v for k, v in document.items() if k != "checksum"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert document["checksum"] == hashlib.sha256(canonical.encode()).hexdigest()
        blocked = {a["account_id"]: a for a in document["accounts"] if a["access"] == "block"}
        assert sorted(blocked) == ["acct_0002", "acct_0005"]
        assert blocked["acct_0002"]["overdue_amount"] == "10"
        assert blocked["acct_0002"]["block_reasons"] == ["invoice_overdue"]
        assert (
            blocked["acct_0005"]["when_stale"] == "block" and blocked["acct_0005"]["stale_after_hours"] == 6
        )
        assert document["as_of"] == "2026-02-20T10:00:00Z"
        # The test account (acct_0008) is in the document and allowed.
        assert {a["account_id"]: a["access"] for a in document["accounts"]}["acct_0008"] == "allow"

        # Stripe: acct_0002 pays out of band, acct_0005's invoice is marked uncollectible.
        stripe = server.client()
        stripe.v1.invoices.pay(stripe_ids["acct_0002"], params={"paid_out_of_band": True})
        stripe.v1.invoices.mark_uncollectible(stripe_ids["acct_0005"])

        # The webhook endpoint refuses what Stripe did not sign, and reads nothing for it.
        webhooks = subprocess.Popen(
            [USAGE_BILLING, "stripe-webhooks", "--port", "0"],
            env={**os.environ, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET},
            stdout=subprocess.PIPE,
            stderr=(tmp_path / "webhooks.log").open("w"),
            text=True,
        )
        url = re.search(r"http://\S+", webhooks.stdout.readline()).group(0)
        event = {
            "id": "evt_1",
            "object": "event",
            "type": "invoice.paid",
            # A forged amount in the body is never used: the read asks Stripe.
            "data": {"object": {"id": stripe_ids["acct_0002"], "object": "invoice", "amount_paid": 1}},
        }
        payload, signature = signed_webhook(event, WEBHOOK_SECRET, int(time.time()))
        reads = warehouse.query("select count(*) from ledger.stripe_status_reads")[0][0]
        assert _post(url, payload, {"Content-Type": "application/json"}) == 400
        assert _post(url, payload, {"Stripe-Signature": signature.replace("v1=", "v1=0")}) == 400
        _, wrong = signed_webhook(event, "whsec_someone_else", int(time.time()))
        assert _post(url, payload, {"Stripe-Signature": wrong}) == 400
        # A signed one is accepted and triggers the read of that invoice only.
        assert _post(url, payload, {"Stripe-Signature": signature}) == 200
        deadline = time.monotonic() + 120
        done = False
        while time.monotonic() < deadline:
            try:
                done = warehouse.query("select count(*) from ledger.stripe_status_reads")[0][0] > reads
            except duckdb.IOException:  # the webhook's read is writing the warehouse right now
                done = False
            if done:
                break
            time.sleep(1)
        assert done, (tmp_path / "webhooks.log").read_text()[-3000:]
        assert warehouse.query(
            "select stripe_status, amount_paid_minor, amount_remaining_minor from ledger.stripe_invoice_status"
            " where account_id = 'acct_0002' order by read_at desc limit 1"
        ) == [("paid", 1000, 0)]
        # Only that invoice was read: acct_0005's last known status is still open.
        assert warehouse.query(
            "select stripe_status from ledger.stripe_invoice_status where account_id = 'acct_0005'"
        ) == [("open",)]

        # The next read, aged on the same day: acct_0002 paid (unblocked), acct_0005 uncollectible and still
        # owed, 31 days overdue, still blocked.
        out = _cli(capsys, "payment-status", "--aged-on", aged_on.isoformat())
        assert "1 invoice(s) read from Stripe (1 uncollectible), 1 new or changed" in out
        out = _cli(capsys, "receivables")
        assert "2 pushed invoice(s): 1 outstanding, 1 paid, 1 uncollectible" in out
        assert _row(out, "JPY") == ["JPY", "0", "1,001", "0", "0", "1,001"]
        assert [line for line in out.splitlines() if line.startswith("USD")] == []
        out = _cli(capsys, "entitlements")
        assert "11 account(s): 1 blocked (invoice_overdue 1)" in out
        assert _row(out, "acct_0005")[1] == "block"
        assert [line for line in out.splitlines() if line.startswith("acct_0002")] == []
        document = json.loads(document_path.read_text())
        assert [a["account_id"] for a in document["accounts"] if a["access"] == "block"] == ["acct_0005"]
        assert document["payments_read_at"] is not None
    finally:
        if webhooks is not None:
            webhooks.terminate()
            webhooks.wait(timeout=30)
        server.stop()
        importlib.reload(importlib.import_module("orchestration.code_location.definitions"))


def test_plans_without_the_new_columns_still_load(tmp_path: Path) -> None:
    """A catalog written before the entitlement settings: the staged plans.csv gains them, blank (off)."""
    from orchestration.code_location.resources import PLAN_SETTINGS, add_missing_plan_settings

    plans = tmp_path / "plans.csv"
    plans.write_text("plan_id,plan_name,currency,base_fee,minimum_amount,maximum_amount\nfree,Free,usd,0,,\n")
    add_missing_plan_settings(plans)
    assert plans.read_text().splitlines() == [
        "plan_id,plan_name,currency,base_fee,minimum_amount,maximum_amount," + ",".join(PLAN_SETTINGS),
        "free,Free,usd,0,,," + "," * (len(PLAN_SETTINGS) - 1),
    ]
