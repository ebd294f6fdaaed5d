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


DAY = 86400


def open_invoice(client: stripe.StripeClient, name: str, amounts=(1234, 766), **params) -> stripe.Invoice:
    """A finalized invoice of the given items (USD); 1234 + 766 → amount_due 2000."""
    customer = client.v1.customers.create(params={"name": name})
    for amount in amounts:
        client.v1.invoice_items.create(params={"customer": customer.id, "amount": amount, "currency": "usd"})
    draft = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "currency": "usd",
            "pending_invoice_items_behavior": "include",
            **params,
        }
    )
    return client.v1.invoices.finalize_invoice(draft.id)


def events_for(client: stripe.StripeClient, event_type: str, invoice_id: str) -> list:
    events = client.v1.events.list(params={"type": event_type, "limit": 100}).data
    return [e for e in events if e.data.object.id == invoice_id]


def test_due_dates_only_for_send_invoice(server: LocalStripe) -> None:
    client = server.client()
    customer = client.v1.customers.create(params={"name": "Net 30"})
    client.v1.invoice_items.create(params={"customer": customer.id, "amount": 4100, "currency": "eur"})
    draft = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "currency": "eur",
            "pending_invoice_items_behavior": "include",
            "collection_method": "send_invoice",
            "days_until_due": 30,
        }
    )
    assert (draft.status, draft.collection_method) == ("draft", "send_invoice")
    assert draft.due_date == draft.created + 30 * DAY
    final = client.v1.invoices.finalize_invoice(draft.id)
    assert final.status == "open" and final.amount_due == 4100
    assert final.due_date == final.status_transitions.finalized_at + 30 * DAY
    assert client.v1.invoices.retrieve(draft.id).due_date == final.due_date
    # A fixed due date is kept as given, through finalization.
    fixed = client.v1.invoices.create(
        params={"customer": customer.id, "collection_method": "send_invoice", "due_date": 1893456000}
    )
    assert fixed.due_date == 1893456000
    assert client.v1.invoices.finalize_invoice(fixed.id).due_date == 1893456000
    # charge_automatically (the default): no due date, and neither parameter is allowed.
    auto = client.v1.invoices.create(params={"customer": customer.id})
    assert (auto.collection_method, auto.due_date) == ("charge_automatically", None)
    assert client.v1.invoices.finalize_invoice(auto.id).due_date is None
    listed = client.v1.invoices.list(params={"customer": customer.id}).data
    assert [i.due_date for i in listed] == [None, 1893456000, final.due_date]
    bad = [
        ({"due_date": 1893456000}, "due_date"),
        ({"collection_method": "charge_automatically", "days_until_due": 30}, "days_until_due"),
        ({"collection_method": "send_invoice"}, "days_until_due"),
        ({"collection_method": "send_invoice", "days_until_due": 30, "due_date": 1893456000}, "due_date"),
        ({"collection_method": "send_invoice", "days_until_due": -1}, "days_until_due"),
        ({"collection_method": "send_invoice", "days_until_due": "soon"}, "days_until_due"),
    ]
    for params, param in bad:
        with pytest.raises(stripe.InvalidRequestError) as error:
            client.v1.invoices.create(params={"customer": customer.id, **params})
        assert (error.value.http_status, error.value.param) == (400, param), params
    assert len(client.v1.invoices.list(params={"customer": customer.id}).data) == 3  # none created


def test_pay_out_of_band(server: LocalStripe) -> None:
    client = server.client()
    invoice = open_invoice(client, "Pays by wire")
    assert (invoice.status, invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (
        "open",
        2000,
        0,
        2000,
    )
    assert invoice.paid_out_of_band is False and invoice.status_transitions.paid_at is None
    paid = client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    assert (paid.status, paid.amount_due, paid.amount_paid, paid.amount_remaining) == ("paid", 2000, 2000, 0)
    assert paid.paid_out_of_band is True and paid.payment_intent is None
    assert paid.status_transitions.paid_at >= paid.status_transitions.finalized_at
    read = client.v1.invoices.retrieve(invoice.id)
    assert (read.status, read.amount_paid, read.amount_remaining, read.paid_out_of_band) == (
        "paid",
        2000,
        0,
        True,
    )
    assert [
        i.id for i in client.v1.invoices.list(params={"customer": invoice.customer, "status": "paid"}).data
    ] == [invoice.id]
    [event] = events_for(client, "invoice.paid", invoice.id)
    assert (event.data.object.status, event.data.object.amount_paid) == ("paid", 2000)
    # A paid invoice can be neither paid again, nor marked uncollectible, nor voided.
    for call in (
        lambda: client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True}),
        lambda: client.v1.invoices.mark_uncollectible(invoice.id),
        lambda: client.v1.invoices.void_invoice(invoice.id),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call()
        assert error.value.http_status == 400 and "this one is paid" in error.value.user_message
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_pay_a_draft_out_of_band_finalizes_it(server: LocalStripe) -> None:
    client = server.client()
    customer = client.v1.customers.create(params={"name": "Draft paid"})
    client.v1.invoice_items.create(params={"customer": customer.id, "amount": 350, "currency": "jpy"})
    draft = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "currency": "jpy",
            "pending_invoice_items_behavior": "include",
            "collection_method": "send_invoice",
            "days_until_due": 7,
        }
    )
    paid = client.v1.invoices.pay(draft.id, params={"paid_out_of_band": True})
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 350, 0)
    assert paid.number.startswith("LOCAL-") and paid.status_transitions.finalized_at
    assert paid.due_date == paid.status_transitions.finalized_at + 7 * DAY
    assert len(events_for(client, "invoice.finalized", draft.id)) == 1
    assert len(events_for(client, "invoice.paid", draft.id)) == 1


def test_pay_without_out_of_band_charges_the_default_payment_method(server: LocalStripe) -> None:
    client = server.client()
    invoice = open_invoice(client, "Card later", amounts=(900,))
    with pytest.raises(stripe.InvalidRequestError) as error:  # localstripe: no payment method, 404
        client.v1.invoices.pay(invoice.id)
    assert error.value.http_status == 404
    assert client.v1.invoices.retrieve(invoice.id).status == "open"
    card = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"},
        }
    )
    client.v1.payment_methods.attach(card.id, params={"customer": invoice.customer})
    client.v1.customers.update(
        invoice.customer, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    assert client.v1.invoices.mark_uncollectible(invoice.id).status == "uncollectible"
    paid = client.v1.invoices.pay(invoice.id)  # an uncollectible invoice can still be charged
    assert (paid.status, paid.amount_paid, paid.amount_remaining, paid.paid_out_of_band) == (
        "paid",
        900,
        0,
        False,
    )
    assert paid.payment_intent.startswith("pi_") and paid.status_transitions.paid_at


def test_mark_uncollectible_then_pay_out_of_band(server: LocalStripe) -> None:
    client = server.client()
    draft_customer = client.v1.customers.create(params={"name": "Still a draft"})
    draft = client.v1.invoices.create(params={"customer": draft_customer.id})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.mark_uncollectible(draft.id)
    assert error.value.http_status == 400 and "this one is draft" in error.value.user_message

    invoice = open_invoice(client, "Bad debt")
    bad = client.v1.invoices.mark_uncollectible(invoice.id)
    assert (bad.status, bad.amount_due, bad.amount_paid, bad.amount_remaining) == (
        "uncollectible",
        2000,
        0,
        2000,
    )
    assert bad.status_transitions.marked_uncollectible_at >= bad.status_transitions.finalized_at
    assert bad.status_transitions.paid_at is None
    [event] = events_for(client, "invoice.marked_uncollectible", invoice.id)
    assert event.data.object.status == "uncollectible"
    listed = client.v1.invoices.list(params={"customer": invoice.customer, "status": "uncollectible"}).data
    assert [i.id for i in listed] == [invoice.id]
    with pytest.raises(stripe.InvalidRequestError) as error:  # only an open invoice
        client.v1.invoices.mark_uncollectible(invoice.id)
    assert error.value.http_status == 400

    paid = client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    assert (paid.status, paid.amount_paid, paid.amount_remaining, paid.paid_out_of_band) == (
        "paid",
        2000,
        0,
        True,
    )
    assert paid.status_transitions.marked_uncollectible_at == bad.status_transitions.marked_uncollectible_at
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.invoices.mark_uncollectible(invoice.id)
    assert error.value.http_status == 400 and "this one is paid" in error.value.user_message


def test_void_open_or_uncollectible_only(server: LocalStripe) -> None:
    client = server.client()
    invoice = open_invoice(client, "Voided", amounts=(1500,))
    client.v1.invoices.mark_uncollectible(invoice.id)
    void = client.v1.invoices.void_invoice(invoice.id)
    assert (void.status, void.amount_due, void.amount_paid, void.amount_remaining) == ("void", 1500, 0, 0)
    assert void.status_transitions.voided_at
    assert len(events_for(client, "invoice.voided", invoice.id)) == 1
    for call in (
        lambda: client.v1.invoices.void_invoice(invoice.id),
        lambda: client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True}),
        lambda: client.v1.invoices.mark_uncollectible(invoice.id),
    ):
        with pytest.raises(stripe.InvalidRequestError) as error:
            call()
        assert error.value.http_status == 400 and "this one is void" in error.value.user_message
    draft = client.v1.invoices.create(params={"customer": invoice.customer})
    with pytest.raises(stripe.InvalidRequestError) as error:  # Stripe voids finalized invoices only
        client.v1.invoices.void_invoice(draft.id)
    assert error.value.http_status == 400
    assert client.v1.invoices.void_invoice(open_invoice(client, "Open voided").id).status == "void"


def test_idempotency_replays_pay_and_mark_uncollectible(server: LocalStripe) -> None:
    client = server.client()
    invoice = open_invoice(client, "Retried")
    url = f"{server.url}/v1/invoices/{invoice.id}"
    status, headers, first = post(url + "/mark_uncollectible", {}, "k-uncollectible")
    assert status == 200 and first["status"] == "uncollectible" and "Idempotent-Replayed" not in headers
    # Done twice it would be a 400 (no longer open): the retry gets the first answer instead.
    status, headers, again = post(url + "/mark_uncollectible", {}, "k-uncollectible")
    assert status == 200 and headers.get("Idempotent-Replayed") == "true" and again == first
    assert post(url + "/mark_uncollectible", {}, None)[0] == 400

    status, _, paid = post(url + "/pay", {"paid_out_of_band": "true"}, "k-pay")
    assert status == 200 and (paid["status"], paid["amount_paid"], paid["amount_remaining"]) == (
        "paid",
        2000,
        0,
    )
    status, headers, again = post(url + "/pay", {"paid_out_of_band": "true"}, "k-pay")
    assert status == 200 and headers.get("Idempotent-Replayed") == "true" and again == paid
    assert len(events_for(client, "invoice.paid", invoice.id)) == 1
    status, _, error = post(url + "/pay", {"paid_out_of_band": "false"}, "k-pay")
    assert status == 400 and error["error"]["type"] == "idempotency_error"


OLD_STATE = """
import pickle, sys
from localstripe import resources
resources.schedule_webhook = lambda event: None  # no event loop here
customer = resources.Customer(name="Pickled")
resources.InvoiceItem(customer=customer.id, amount=700, currency="usd")
invoice = resources.Invoice(customer=customer.id)
invoice._finalize()
with open(sys.argv[1], "wb") as f:
    pickle.dump(dict(resources.store), f)
print(invoice.id)
"""


def start_with_state(state_file: Path) -> tuple[subprocess.Popen, stripe.StripeClient]:
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.stripe.local_server", "--port", "0", "--quiet"]
        + ["--state-file", str(state_file)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    url = line[line.index("http://") :].split()[0]
    return process, stripe.StripeClient(TEST_KEY, base_addresses={"api": url}, max_network_retries=0)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_state_file_with_invoices_pickled_before_the_new_fields(tmp_path: Path) -> None:
    state = tmp_path / "state.pickle"
    # An invoice pickled by localstripe's own classes: none of the attributes the fixture layer adds.
    invoice_id = subprocess.run(
        [sys.executable, "-c", OLD_STATE, str(state)], check=True, capture_output=True, text=True
    ).stdout.strip()
    process, client = start_with_state(state)
    try:
        old = client.v1.invoices.retrieve(invoice_id)
        assert (old.status, old.amount_due, old.amount_paid, old.amount_remaining) == ("open", 700, 0, 700)
        assert old.due_date is None and old.paid_out_of_band is False
        assert old.status_transitions.marked_uncollectible_at is None
        assert client.v1.invoices.mark_uncollectible(invoice_id).status == "uncollectible"
        net = open_invoice(
            client, "Net 10", amounts=(250,), collection_method="send_invoice", days_until_due=10
        )
    finally:
        stop(process)
    process, client = start_with_state(state)  # the new attributes survive a restart
    try:
        again = client.v1.invoices.retrieve(invoice_id)
        assert (again.status, again.amount_remaining) == ("uncollectible", 700)
        assert client.v1.invoices.retrieve(net.id).due_date == net.status_transitions.finalized_at + 10 * DAY
        paid = client.v1.invoices.pay(invoice_id, params={"paid_out_of_band": True})
        assert (paid.status, paid.amount_paid, paid.amount_remaining, paid.paid_out_of_band) == (
            "paid",
            700,
            0,
            True,
        )
    finally:
        stop(process)


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
