"""Test helpers for the Stripe push: the local server as a subprocess, a fault-injecting HTTP proxy in
front of it, and a hand-written warehouse with the contract tables (no dbt build needed)."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import stripe

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_KEY = "sk_test_usage_billing_tests"


class LocalStripe:
    """`python -m orchestration.stripe.local_server --port 0` on 127.0.0.1, stopped with SIGTERM."""

    def __init__(self, log_path: Path, idempotency_ttl: float | None = None) -> None:
        args = [sys.executable, "-m", "orchestration.stripe.local_server", "--port", "0", "--quiet"]
        if idempotency_ttl is not None:
            args += ["--idempotency-ttl", str(idempotency_ttl)]
        self._log = log_path.open("w")
        self.process = subprocess.Popen(
            args, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=self._log, text=True
        )
        line = self.process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"local Stripe did not start: {line!r} (log {log_path})")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self, api_key: str = TEST_KEY) -> stripe.StripeClient:
        return stripe.StripeClient(api_key, base_addresses={"api": self.url}, max_network_retries=0)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@dataclass
class Fault:
    """What the proxy does to one request: answer `status` instead of forwarding (before=True), or
    forward it and then answer `status` (the server did the work, the client never hears of it)."""

    status: int
    before: bool = True
    body: bytes = b'{"error": {"type": "api_error", "message": "injected by the test proxy"}}'
    headers: dict[str, str] = field(default_factory=dict)


class FaultProxy:
    """An HTTP proxy in front of the local server that counts requests and can inject faults.

    `fault(n, method, path, body, api_key)` returns a Fault for the n-th request (1-based) or None;
    `kill_at=(k, pid)` forwards the k-th request, then SIGKILLs `pid` and drops the connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.count = 0
        self.injected: list[tuple[int, str, str, int]] = []
        self.fault: Callable[[int, str, str, bytes, str], Fault | None] | None = None
        self.kill_at: tuple[int, int] | None = None
        self.killed = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                auth = self.headers.get("Authorization", "")
                api_key = auth.split(" ", 1)[1] if " " in auth else ""
                with proxy._lock:
                    proxy.count += 1
                    n = proxy.count
                    fault = proxy.fault(n, self.command, self.path, body, api_key) if proxy.fault else None
                    kill = proxy.kill_at if proxy.kill_at and proxy.kill_at[0] == n else None
                if fault is not None and fault.before:
                    proxy.injected.append((n, self.command, self.path, fault.status))
                    self._reply(fault.status, fault.body, fault.headers)
                    return
                status, headers, payload = proxy._forward(self.command, self.path, self.headers, body)
                if kill is not None:
                    os.kill(kill[1], signal.SIGKILL)
                    proxy.killed.set()
                    self.close_connection = True
                    return
                if fault is not None:
                    proxy.injected.append((n, self.command, self.path, fault.status))
                    self._reply(fault.status, fault.body, fault.headers)
                    return
                self._reply(status, payload, headers)

            def _reply(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in headers.items():
                    if name.lower() not in (
                        "content-length",
                        "content-type",
                        "transfer-encoding",
                        "connection",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            forward = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            conn.request(method, path, body=body or None, headers=forward)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the warehouse: contract tables with hand-written rows --

CONTRACT_DDL = (
    "create schema if not exists marts",
    "create schema if not exists catalog",
    """create table catalog.accounts (account_id varchar, account_name varchar, currency varchar,
        stripe_customer_id varchar, billing_anchor_day integer, is_test boolean)""",
    "create table catalog.currencies (currency varchar, minor_units integer)",
    """create table marts.fct_invoices (invoice_id varchar, account_id varchar, period_start date,
        period_end date, currency varchar, subtotal decimal(38, 4), credits_applied decimal(38, 4),
        total decimal(38, 4), line_count integer, status varchar)""",
    """create table marts.fct_invoice_lines (invoice_line_id varchar, invoice_id varchar,
        account_id varchar, period_start date, period_end date, line_type varchar, meter varchar,
        endpoint varchar, price_id varchar, tier integer, description varchar, quantity decimal(38, 9),
        unit_amount decimal(38, 12), amount decimal(38, 4), currency varchar, is_final boolean)""",
)

D = Decimal
JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)

# (account_id, name, currency, is_test, anchor)
ACCOUNTS = [
    ("acct_a", "Acme Analytics", "usd", False, 1),
    ("acct_b'jp", "Hooli Japan KK", "jpy", False, 10),  # a quote in an id: parameters only
    ("acct_c", "Open Invoice Inc", "usd", False, 1),
    ("acct_d", "Internal QA", "usd", True, 1),
    ("acct_e", "Zero Total Ltd", "usd", False, 1),
    ("acct_f", "Umbrella Data GmbH", "eur", False, 1),
]

# invoice: (account_id, period_start, period_end, currency, status, lines)
# line: (line_type, description, quantity, unit_amount, amount)
INVOICES = [
    (
        "acct_a",
        JAN,
        FEB,
        "usd",
        "final",
        [
            ("base_fee", "Growth plan base fee", D(1), D(49), D("49.00")),
            ("usage", "API calls, tier 1 (first 50,000 free)", D(50000), D(0), D("0.00")),
            ("usage", "API calls, tier 2", D("70001"), D("0.001"), D("70.00")),
            ("credit", "Credit grant g1", D(1), D("-20.5"), D("-20.50")),
        ],
    ),
    (
        "acct_a",
        FEB,
        date(2026, 3, 1),
        "usd",
        "open",
        [("base_fee", "Growth plan base fee", D(1), D(49), D("49.00"))],
    ),
    (
        "acct_b'jp",
        date(2026, 1, 10),
        date(2026, 2, 10),
        "jpy",
        "final",
        [
            ("base_fee", "Base fee", D(1), D(1000), D("1000")),
            ("usage", "Search requests", D("1570.5"), D(1), D("1571")),
            ("credit", "Welcome credit", D(1), D(-71), D("-71")),
        ],
    ),
    ("acct_c", JAN, FEB, "usd", "open", [("base_fee", "Base fee", D(1), D("10"), D("10.00"))]),
    ("acct_d", JAN, FEB, "usd", "final", [("base_fee", "Base fee", D(1), D("99"), D("99.00"))]),
    (
        "acct_e",
        JAN,
        FEB,
        "usd",
        "final",
        [
            ("base_fee", "Free plan base fee", D(1), D(0), D("0.00")),
            ("usage", "API calls", D(300), D("0.01"), D("3.00")),
            ("credit", "Credit grant g2", D(1), D(-3), D("-3.00")),
        ],
    ),
    (
        "acct_f",
        JAN,
        FEB,
        "eur",
        "final",
        [
            ("base_fee", "Team plan base fee", D(1), D("19.99"), D("19.99")),
            ("usage", "Exports", D(3), D("0.003333"), D("0.01")),
        ],
    ),
    (
        "acct_f",
        date(2025, 12, 1),
        JAN,
        "eur",
        "final",
        [("base_fee", "Team plan base fee", D(1), D("19.99"), D("19.99"))],
    ),
]


def invoice_id(account_id: str, period_start: date) -> str:
    return f"inv_{account_id}_{period_start:%Y%m%d}"


def build_warehouse(db_path: Path, customer_ids: dict[str, str] | None = None) -> None:
    """The contract tables with the rows above; `customer_ids` fills catalog stripe_customer_id."""
    customer_ids = customer_ids or {}
    con = duckdb.connect(str(db_path))
    try:
        for statement in CONTRACT_DDL:
            con.execute(statement)
        con.executemany(
            "insert into catalog.currencies values (?, ?)", [("usd", 2), ("eur", 2), ("jpy", 0), ("gbp", 2)]
        )
        con.executemany(
            "insert into catalog.accounts values (?, ?, ?, ?, ?, ?)",
            [(a, n, c, customer_ids.get(a, ""), anchor, t) for a, n, c, t, anchor in ACCOUNTS],
        )
        for account_id, start, end, currency, status, lines in INVOICES:
            inv = invoice_id(account_id, start)
            subtotal = sum((amount for kind, *_, amount in lines if kind != "credit"), D(0))
            credits = -sum((amount for kind, *_, amount in lines if kind == "credit"), D(0))
            con.execute(
                "insert into marts.fct_invoices values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    inv,
                    account_id,
                    start,
                    end,
                    currency,
                    subtotal,
                    credits,
                    subtotal - credits,
                    len(lines),
                    status,
                ],
            )
            for i, (kind, description, quantity, unit_amount, amount) in enumerate(lines, start=1):
                con.execute(
                    "insert into marts.fct_invoice_lines values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        f"{inv}_l{i}",
                        inv,
                        account_id,
                        start,
                        end,
                        kind,
                        "api_calls" if kind == "usage" else None,
                        None,
                        None,
                        i if kind == "usage" else None,
                        description,
                        quantity,
                        unit_amount,
                        amount,
                        currency,
                        status == "final",
                    ],
                )
    finally:
        con.close()


def expected_pushes(period_start_month: date = JAN) -> dict[str, tuple[int, int, str]]:
    """invoice_id → (total in minor units, non-zero lines, currency) for the invoices a January push
    must send: final, non-test, non-zero total, period starting in January."""
    minor = {"usd": 2, "eur": 2, "jpy": 0}
    test_accounts = {a for a, _, _, t, _ in ACCOUNTS if t}
    result = {}
    for account_id, start, _, currency, status, lines in INVOICES:
        if status != "final" or account_id in test_accounts or (start.year, start.month) != (2026, 1):
            continue
        total = sum((amount for *_, amount in lines), D(0))
        if total == 0:
            continue
        nonzero = sum(1 for *_, amount in lines if amount != 0)
        result[invoice_id(account_id, start)] = (int(total.scaleb(minor[currency])), nonzero, currency)
    return result


def stripe_state(client: stripe.StripeClient) -> tuple[dict[str, list], dict[str, list]]:
    """Everything in the server: invoices by metadata invoice_id, invoice items by invoice_line_id."""
    invoices: dict[str, list] = {}
    items: dict[str, list] = {}
    for customer in client.v1.customers.list(params={"limit": 100}).auto_paging_iter():
        for inv in client.v1.invoices.list(params={"customer": customer.id, "limit": 100}).auto_paging_iter():
            invoices.setdefault(inv.metadata.to_dict().get("invoice_id"), []).append(inv)
        for item in client.v1.invoice_items.list(
            params={"customer": customer.id, "limit": 100}
        ).auto_paging_iter():
            items.setdefault(item.metadata.to_dict().get("invoice_line_id"), []).append(item)
    return invoices, items


def signed_webhook(event: dict, secret: str, timestamp: int) -> tuple[bytes, str]:
    """A webhook payload and its Stripe-Signature header, signed the way Stripe documents it
    (HMAC-SHA256 of "<timestamp>.<payload>" with the endpoint secret)."""
    import hashlib
    import hmac
    import json

    payload = json.dumps(event).encode()
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, f"t={timestamp},v1={signature}"
