"""The local Stripe server's fixture layer behaves as Stripe's API reference says (real server, real SDK)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe
from stripe_fixtures import TEST_KEY, LocalStripe


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    s = LocalStripe(tmp_path_factory.mktemp("local_stripe") / "server.log")
    yield s
    s.stop()


def post(url: str, params: dict, key: str | None) -> tuple[int, dict, dict]:
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(
        url, data=urllib.parse.urlencode(params).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def test_idempotency_key_semantics(server: LocalStripe) -> None:
    url = server.url + "/v1/customers"
    status, headers, first = post(url, {"name": "Same", "metadata[account_id]": "a1"}, "k-same")
    assert status == 200 and "Idempotent-Replayed" not in headers
    # Same key, same parameters (in another order): the stored first response, no second customer.
    status, headers, again = post(url, {"metadata[account_id]": "a1", "name": "Same"}, "k-same")
    assert status == 200 and headers.get("Idempotent-Replayed") == "true"
    assert again == first
    # Same key, other parameters: 400 idempotency_error, nothing created.
    status, _, error = post(url, {"name": "Other"}, "k-same")
    assert status == 400 and error["error"]["type"] == "idempotency_error"
    # Same key on another endpoint is a misuse too.
    status, _, error = post(server.url + "/v1/invoiceitems", {"name": "Same"}, "k-same")
    assert status == 400 and error["error"]["type"] == "idempotency_error"
    # No key: two requests, two customers.
    ids = {post(url, {"name": "NoKey"}, None)[2]["id"] for _ in range(2)}
    assert len(ids) == 2
    # Through the SDK: the error class Stripe's SDK raises for it.
    client = server.client()
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create(params={"name": "Other"}, options={"idempotency_key": "k-same"})
    # An error response is stored and replayed as well (unknown customer → 404).
    params = {"customer": "cus_doesnotexist", "amount": "100", "currency": "usd"}
    assert post(server.url + "/v1/invoiceitems", params, "k-404")[0] == 404
    status, headers, _ = post(server.url + "/v1/invoiceitems", params, "k-404")
    assert status == 404 and headers.get("Idempotent-Replayed") == "true"


def test_keys_expire_after_the_ttl(tmp_path: Path) -> None:
    short = LocalStripe(tmp_path / "server.log", idempotency_ttl=0)
    try:
        url = short.url + "/v1/customers"
        first = post(url, {"name": "Twice"}, "k-expired")[2]["id"]
        second = post(url, {"name": "Twice"}, "k-expired")[2]["id"]
        assert first != second  # the key was pruned: a new request, as after 24 hours at Stripe
    finally:
        short.stop()


def test_invoice_for_pending_items_finalize_and_listings(server: LocalStripe) -> None:
    client = server.client()
    customer = client.v1.customers.create(params={"name": "Invoice me"})
    other = client.v1.invoice_items.create(params={"customer": customer.id, "amount": 999, "currency": "eur"})
    for i, amount in enumerate((1500, -250)):
        client.v1.invoice_items.create(
            params={
                "customer": customer.id,
                "amount": amount,
                "currency": "usd",
                "metadata": {"invoice_line_id": f"l{i}"},
            }
        )
    draft = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "currency": "usd",
            "pending_invoice_items_behavior": "include",
            "auto_advance": False,
            "metadata": {"invoice_id": "inv_1"},
        }
    )
    assert (draft.status, draft.total, draft.currency, draft.auto_advance) == ("draft", 1250, "usd", False)
    assert draft.metadata.to_dict() == {"invoice_id": "inv_1"}
    on_invoice = client.v1.invoice_items.list(params={"invoice": draft.id}).data
    assert sorted(i.amount for i in on_invoice) == [-250, 1500]
    # The item in another currency stays pending; `exclude` (the default) takes none.
    pending = client.v1.invoice_items.list(params={"customer": customer.id, "pending": True}).data
    assert [i.id for i in pending] == [other.id]
    empty = client.v1.invoices.create(params={"customer": customer.id, "currency": "eur"})
    assert empty.total == 0 and len(client.v1.invoice_items.list(params={"pending": True}).data) >= 1

    final = client.v1.invoices.finalize_invoice(draft.id, params={"auto_advance": True})
    assert final.status == "open" and final.number and final.status_transitions.finalized_at
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.finalize_invoice(draft.id)
    assert error.value.http_status == 400
    listed = client.v1.invoices.list(params={"customer": customer.id}).data
    assert [i.id for i in listed] == [empty.id, draft.id]  # newest first
    assert listed[1].metadata.to_dict() == {"invoice_id": "inv_1"} and listed[1].status == "open"
    assert [
        i.id for i in client.v1.invoices.list(params={"customer": customer.id, "status": "open"}).data
    ] == [draft.id]


def test_negative_total_as_in_stripe(server: LocalStripe) -> None:
    client = server.client()
    customer = client.v1.customers.create(params={"name": "Credit"})
    client.v1.invoice_items.create(params={"customer": customer.id, "amount": -500, "currency": "jpy"})
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "currency": "jpy", "pending_invoice_items_behavior": "include"}
    )
    assert (invoice.total, invoice.amount_due) == (-500, 0)


def test_cli_runs_in_the_foreground_until_stopped() -> None:
    executable = str(Path(sys.executable).parent / "usage-billing")
    for stop in (signal.SIGINT, signal.SIGTERM):
        process = subprocess.Popen(
            [executable, "local-stripe", "--port", "0", "--quiet"], stdout=subprocess.PIPE, text=True
        )
        try:
            line = process.stdout.readline()
            assert "http://127.0.0.1:" in line
            url = line[line.index("http://") :].split()[0]
            client = stripe.StripeClient(TEST_KEY, base_addresses={"api": url})
            assert client.v1.customers.create(params={"name": "up"}).id.startswith("cus_")
            process.send_signal(stop)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
