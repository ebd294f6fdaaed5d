"""A local Stripe-API-compatible server: localstripe plus one small fixture layer.

`usage-billing local-stripe [--port N]` (or `python -m orchestration.stripe.local_server`) serves it on
127.0.0.1 in the foreground until SIGINT/SIGTERM. The demo and the tests push to it; nothing here talks
to api.stripe.com. Any secret key that starts with `sk_` is accepted, as in localstripe.

localstripe (https://github.com/adrienverge/localstripe) implements customers, invoice items created
with `amount`, legacy plans and subscriptions with their invoices, `pay` and `void`. What the push needs
beyond that, and real Stripe has, is added here, modelled on Stripe's API reference
(https://docs.stripe.com/api) and on nothing else:

- `POST /v1/invoices` for a customer without a subscription (localstripe answers 404 "No upcoming
  invoices"): parameters `customer`, `currency`, `pending_invoice_items_behavior` (`exclude`, the
  default, or `include`: the customer's pending invoice items in the invoice's currency become its
  lines), `auto_advance` (default false), `collection_method` (`charge_automatically`, the default,
  or `send_invoice`), `days_until_due` (integer >= 0) or `due_date` (unix timestamp; a past one is
  accepted), `description`, `metadata`. `days_until_due` and `due_date` are only for `send_invoice`
  (400 with `charge_automatically`), which needs exactly one of them (400 with neither or both). The
  invoice is a `draft`. A request with `subscription` still goes to localstripe.
- Every invoice exports `due_date`: null for `charge_automatically`; the given `due_date`; with
  `days_until_due`, creation time plus that many days, then `finalized_at` plus that many days once
  finalized.
- `POST /v1/invoices/{id}/finalize` (optional `auto_advance`): a draft becomes `open` (`paid`, with
  `status_transitions.paid_at` and event `invoice.paid`, when nothing is due), gets a `number` and
  `status_transitions.finalized_at`; finalizing a non-draft invoice is a 400.
- `POST /v1/invoices/{id}/pay`: a draft is finalized first. `paid_out_of_band=true`: an `open` or
  `uncollectible` invoice becomes `paid` with no payment method and no charge: `paid_out_of_band`
  true, `status_transitions.paid_at`, event `invoice.paid`. Without it, localstripe charges the
  customer's default payment method (an `uncollectible` invoice too). A `paid` or `void` invoice is a
  400.
- `POST /v1/invoices/{id}/mark_uncollectible`: an `open` invoice becomes `uncollectible`, with
  `status_transitions.marked_uncollectible_at` and event `invoice.marked_uncollectible`; any other
  status is a 400.
- `POST /v1/invoices/{id}/void`: an `open` or `uncollectible` invoice becomes `void`, with
  `status_transitions.voided_at` and event `invoice.voided`; a draft, `paid` or `void` invoice is a 400
  (localstripe voided drafts, and answered 400 for any invoice without a payment intent).
- An invoice's `status` is one of `draft`, `open`, `paid`, `uncollectible`, `void`; `amount_paid` is
  `amount_due` when `paid`, else 0; `amount_remaining` is 0 when `paid` or `void`, else `amount_due`;
  `paid_out_of_band` is exported (false unless paid so); `status_transitions` always has
  `marked_uncollectible_at`. Invoices read from a state file written before these fields existed get
  the defaults (no due date, not uncollectible, not paid out of band).
- `GET /v1/invoices` with `customer`, `status`, `subscription`, `limit` (1-100), `starting_after`:
  newest first, each invoice with its `metadata` and `lines`.
- `GET /v1/invoiceitems` with `customer`, `invoice`, `pending` (true: not on an invoice yet; false:
  on one), `limit`, `starting_after`. localstripe lists pending items only; Stripe lists all.
- An invoice's `total` is `subtotal + tax` and may be negative, as in Stripe (localstripe clamps it
  at 0 and subtracts the customer balance); `amount_due` is never negative.
- The `Idempotency-Key` header on POST requests (https://docs.stripe.com/api/idempotent_requests):
  the status and body of the first request with a key are saved once its endpoint has started
  executing (errors included) and are returned again, with `Idempotent-Replayed: true`, to a retry
  with the same key, endpoint and parameters; the same key with another endpoint or other
  parameters is a 400 `idempotency_error`; a retry while the first is still running is a 409
  `idempotency_error` (which Stripe's SDKs retry). Keys are scoped to the API key, are at most 255
  characters and are pruned after `--idempotency-ttl` seconds (default 24 hours, Stripe's minimum;
  the tests set 0 to show that the push does not depend on them).

State lives in memory for the life of the process: localstripe's dump of its store to
/tmp/localstripe.pickle after every write is turned off, so that two servers never share state.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PORT = 8420
DAY_SECONDS = 24 * 3600
MAX_IDEMPOTENCY_KEY_LENGTH = 255
# localstripe's PaymentIntent cancel accepts these (Stripe's list).
CANCELABLE_PAYMENT_INTENT_STATUSES = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
)

log = logging.getLogger("usage_billing.local_stripe")


@dataclass
class _SavedResponse:
    fingerprint: str
    status: int
    body: bytes
    saved_at: float


@dataclass
class IdempotencyStore:
    """Saved first responses per (API key, Idempotency-Key), pruned after `ttl` seconds."""

    ttl: float = DAY_SECONDS
    saved: dict[tuple[str, str], _SavedResponse] = field(default_factory=dict)
    in_flight: set[tuple[str, str]] = field(default_factory=set)

    def prune(self, now: float) -> None:
        for scope in [s for s, r in self.saved.items() if now - r.saved_at >= self.ttl]:
            del self.saved[scope]


def _fingerprint(method: str, path: str, params: Any) -> str:
    canonical = json.dumps([method, path, params], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _error(status: int, error_type: str, message: str, **extra: Any):
    from localstripe.server import json_response

    return json_response({"error": {"type": error_type, "message": message, **extra}}, status=status)


def create_app(idempotency_ttl: float = DAY_SECONDS, state_file: str | None = None):
    """localstripe's routes and middlewares, behind the fixture layer's routes and idempotency.

    state_file: keep the server's objects in this file across restarts (the demo's server, so that a
    second demo run finds what the first one pushed); None keeps them in memory only."""
    from aiohttp import web
    from localstripe import resources, server
    from localstripe.errors import UserError
    from localstripe.resources import Customer, Event, Invoice, List, store
    from localstripe.webhooks import schedule_webhook

    # In memory only (see the module docstring), unless a state file of our own is given.
    if state_file:
        import pickle

        def dump_to_disk(self) -> None:
            tmp = f"{state_file}.tmp"
            with open(tmp, "wb") as f:
                pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, state_file)

        resources.Store.dump_to_disk = dump_to_disk
        if os.path.exists(state_file):
            with open(state_file, "rb") as f:
                dict.update(store, pickle.load(f))
    else:
        resources.Store.dump_to_disk = lambda self: None
    # Stripe: total = subtotal + tax, negative when credits exceed charges; amount_due >= 0.
    Invoice.total = property(lambda self: self.subtotal + self.tax)
    Invoice.amount_due = property(lambda self: max(0, self.total - (self.starting_balance or 0)))

    # Statuses after finalization as in Stripe. The attributes below are ours; invoices pickled
    # before they existed (a state file) lack them, hence getattr with the defaults.
    def invoice_status(self) -> str:
        if self._draft:
            return "draft"
        if self._voided:
            return "void"
        if getattr(self, "_paid_out_of_band", False) or self.total <= 0 or self.amount_due <= 0:
            return "paid"
        if self.payment_intent:
            pi = resources.PaymentIntent._api_retrieve(self.payment_intent)
            if pi.status == "succeeded":
                return "paid"
            if pi.status == "canceled":
                return "void"
        if getattr(self, "_uncollectible", False):
            return "uncollectible"
        return "open"

    Invoice.status = property(invoice_status)
    Invoice.amount_paid = property(lambda self: self.amount_due if self.status == "paid" else 0)
    Invoice.amount_remaining = property(
        lambda self: 0 if self.status in ("paid", "void") else self.amount_due - self.amount_paid
    )
    Invoice.due_date = property(lambda self: getattr(self, "_due_date", None))
    Invoice.paid_out_of_band = property(lambda self: getattr(self, "_paid_out_of_band", False))
    original_invoice_export = Invoice._export

    def export_invoice(self, expand=None):
        self.status_transitions.setdefault("marked_uncollectible_at", None)
        return original_invoice_export(self, expand=expand)

    Invoice._export = export_invoice

    idempotency = IdempotencyStore(ttl=idempotency_ttl)
    invoice_numbers = {"next": 1}

    def bool_param(name: str, value: Any) -> bool:
        value = resources.try_convert_to_bool(value)
        if not isinstance(value, bool):
            raise UserError(400, f"Invalid boolean: {name}", {"param": name})
        return value

    def int_param(name: str, value: Any, minimum: int) -> int:
        value = resources.try_convert_to_int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise UserError(400, f"Invalid integer: {name} (at least {minimum})", {"param": name})
        return value

    def list_param(data: dict) -> tuple[int, str | None]:
        limit = resources.try_convert_to_int(data.pop("limit", 10))
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise UserError(400, "limit must be an integer between 1 and 100", {"param": "limit"})
        return limit, data.pop("starting_after", None)

    def no_unknown(data: dict) -> None:
        if data:
            name = sorted(data)[0]
            raise UserError(400, f"Received unknown parameter: {name}", {"param": name})

    def metadata_param(value: Any) -> dict[str, str]:
        if value in (None, ""):
            return {}
        if not isinstance(value, dict) or len(value) > 50:
            raise UserError(400, "Invalid metadata: a hash of at most 50 keys", {"param": "metadata"})
        for key, item in value.items():
            if len(str(key)) > 40 or not isinstance(item, str) or len(item) > 500:
                raise UserError(400, f"Invalid metadata[{key}]", {"param": "metadata"})
        return dict(value)

    def newest_first(objects: list) -> list:
        # Stripe lists newest first; within one second, keep creation order reversed as well.
        indexed = list(enumerate(objects))
        indexed.sort(key=lambda pair: (pair[1].created, pair[0]), reverse=True)
        return [obj for _, obj in indexed]

    def page(url: str, objects: list, limit: int, starting_after: str | None, expand: Any):
        li = List(url, limit=limit, starting_after=starting_after)
        li._list = objects
        return server.json_response(li._export(expand=expand))

    def stored(prefix: str) -> list:
        return [value for key, value in store.items() if key.startswith(prefix + ":")]

    original_create_invoice = server.api_create(Invoice, "/v1/invoices")

    async def create_invoice(request):
        data = dict(await server.get_post_data(request) or {})
        if "subscription" in data:
            return await original_create_invoice(request)
        expand = data.pop("expand", None)
        customer = data.pop("customer", None)
        behavior = data.pop("pending_invoice_items_behavior", "exclude")
        auto_advance = bool_param("auto_advance", data.pop("auto_advance", False))
        collection_method = data.pop("collection_method", "charge_automatically")
        currency = data.pop("currency", None)
        days_until_due = data.pop("days_until_due", None)
        due_date = data.pop("due_date", None)
        description = data.pop("description", None)
        metadata = metadata_param(data.pop("metadata", None))
        no_unknown(data)
        if not isinstance(customer, str) or not customer.startswith("cus_"):
            raise UserError(400, "Missing required param: customer.", {"param": "customer"})
        if behavior not in ("include", "exclude"):
            raise UserError(400, "Invalid pending_invoice_items_behavior", {"param": "behavior"})
        if collection_method not in ("charge_automatically", "send_invoice"):
            raise UserError(400, "Invalid collection_method", {"param": "collection_method"})
        if days_until_due is not None:
            days_until_due = int_param("days_until_due", days_until_due, 0)
        if due_date is not None:
            due_date = int_param("due_date", due_date, 1)
        if collection_method == "charge_automatically":
            for name, value in (("days_until_due", days_until_due), ("due_date", due_date)):
                if value is not None:
                    raise UserError(
                        400,
                        f"{name} can only be set when collection_method is send_invoice.",
                        {"param": name},
                    )
        elif days_until_due is None and due_date is None:
            raise UserError(
                400,
                "Invoices with collection_method=send_invoice need days_until_due or due_date.",
                {"param": "days_until_due"},
            )
        elif days_until_due is not None and due_date is not None:
            raise UserError(400, "Set only one of days_until_due and due_date.", {"param": "due_date"})
        if currency is not None and (not isinstance(currency, str) or len(currency) != 3):
            raise UserError(400, "Invalid currency", {"param": "currency"})
        Customer._api_retrieve(customer)  # 404 if unknown
        pending = newest_first(
            [ii for ii in stored("invoiceitem") if ii.customer == customer and ii.invoice is None]
        )
        if currency is None:
            currency = (pending[-1].currency if pending else "usd").lower()
        currency = currency.lower()
        included = [ii for ii in pending if behavior == "include" and ii.currency.lower() == currency]
        held = [ii for ii in pending if ii not in included]
        # localstripe's Invoice takes every pending item of the customer: hold back the others.
        for ii in held:
            ii.invoice = "in_held_back"
        try:
            invoice = Invoice(customer=customer, metadata=metadata, description=description)
        finally:
            for ii in held:
                ii.invoice = None
        invoice.currency = currency
        invoice.auto_advance = auto_advance
        invoice.collection_method = collection_method
        invoice.billing_reason = "manual"
        invoice.number = None
        invoice._days_until_due = days_until_due
        invoice._due_date = (
            invoice.created + days_until_due * DAY_SECONDS if days_until_due is not None else due_date
        )
        invoice._uncollectible = False
        invoice._paid_out_of_band = False
        invoice.status_transitions["marked_uncollectible_at"] = None
        return server.json_response(invoice._export(expand=expand))

    def unexpected_state(invoice, action: str, allowed: str):
        return UserError(
            400,
            f"You can only {action} an invoice that is {allowed}; this one is {invoice.status}.",
            {"code": "invoice_unexpected_state"},
        )

    def finalize(invoice) -> None:
        invoice._finalize()
        finalized_at = invoice.status_transitions["finalized_at"]
        invoice.number = f"LOCAL-{invoice_numbers['next']:06d}"
        invoice_numbers["next"] += 1
        days_until_due = getattr(invoice, "_days_until_due", None)
        if days_until_due is not None:
            invoice._due_date = finalized_at + days_until_due * DAY_SECONDS
        schedule_webhook(Event("invoice.finalized", invoice))
        if invoice.status == "paid":  # nothing due: paid at once, as in Stripe
            invoice.status_transitions["paid_at"] = finalized_at
            schedule_webhook(Event("invoice.paid", invoice))

    async def finalize_invoice(request):
        data = dict(await server.get_post_data(request) or {})
        expand = data.pop("expand", None)
        auto_advance = data.pop("auto_advance", None)
        no_unknown(data)
        invoice = Invoice._api_retrieve(request.match_info["id"])
        if invoice.status != "draft":
            raise UserError(
                400,
                f"This invoice is already finalized (status {invoice.status}); only a draft can be finalized.",
                {"code": "invoice_unexpected_state"},
            )
        if auto_advance is not None:
            invoice.auto_advance = bool_param("auto_advance", auto_advance)
        finalize(invoice)
        return server.json_response(invoice._export(expand=expand))

    async def pay_invoice(request):
        data = dict(await server.get_post_data(request) or {})
        expand = data.pop("expand", None)
        out_of_band = bool_param("paid_out_of_band", data.pop("paid_out_of_band", False))
        no_unknown(data)
        invoice = Invoice._api_retrieve(request.match_info["id"])
        if invoice.status in ("paid", "void"):
            raise unexpected_state(invoice, "pay", "draft, open or uncollectible")
        if invoice.status == "draft":
            finalize(invoice)  # as Stripe does; if nothing is due, it is paid now
            if invoice.status == "paid":
                return server.json_response(invoice._export(expand=expand))
        if out_of_band:
            invoice._paid_out_of_band = True
            invoice.status_transitions["paid_at"] = int(time.time())
            schedule_webhook(Event("invoice.paid", invoice))
        else:
            # localstripe's payment with the default payment method; it only pays open invoices.
            uncollectible = getattr(invoice, "_uncollectible", False)
            invoice._uncollectible = False
            try:
                Invoice._api_pay_invoice(invoice.id)
            finally:
                invoice._uncollectible = uncollectible  # a succeeded payment makes it paid anyway
        return server.json_response(invoice._export(expand=expand))

    async def invoice_to_move(request, action: str, allowed: tuple[str, ...]):
        """The invoice a request without parameters of its own names, and its `expand`; a 400 unless the
        invoice is in one of the states the action moves from."""
        data = dict(await server.get_post_data(request) or {})
        expand = data.pop("expand", None)
        no_unknown(data)
        invoice = Invoice._api_retrieve(request.match_info["id"])
        if invoice.status not in allowed:
            raise unexpected_state(invoice, action, " or ".join(allowed))
        return invoice, expand

    async def mark_uncollectible(request):
        invoice, expand = await invoice_to_move(request, "mark uncollectible", ("open",))
        invoice._uncollectible = True
        invoice.status_transitions["marked_uncollectible_at"] = int(time.time())
        schedule_webhook(Event("invoice.marked_uncollectible", invoice))
        return server.json_response(invoice._export(expand=expand))

    async def void_invoice(request):
        invoice, expand = await invoice_to_move(request, "void", ("open", "uncollectible"))
        if invoice.payment_intent:
            pi = resources.PaymentIntent._api_retrieve(invoice.payment_intent)
            if pi.status in CANCELABLE_PAYMENT_INTENT_STATUSES:
                resources.PaymentIntent._api_cancel(pi.id)
        invoice._voided = True
        invoice.status_transitions["voided_at"] = int(time.time())
        if invoice.subscription:  # as localstripe does
            resources.Subscription._api_retrieve(invoice.subscription)._on_initial_payment_voided(invoice)
        schedule_webhook(Event("invoice.voided", invoice))
        return server.json_response(invoice._export(expand=expand))

    async def list_invoices(request):
        data = dict(server.unflatten_data(request.query) or {})
        expand = data.pop("expand", None)
        limit, starting_after = list_param(data)
        customer = data.pop("customer", None)
        status = data.pop("status", None)
        subscription = data.pop("subscription", None)
        no_unknown(data)
        if customer is not None:
            Customer._api_retrieve(customer)
        invoices = [
            inv
            for inv in stored("invoice")
            if (customer is None or inv.customer == customer)
            and (status is None or inv.status == status)
            and (subscription is None or inv.subscription == subscription)
        ]
        return page("/v1/invoices", newest_first(invoices), limit, starting_after, expand)

    async def list_invoice_items(request):
        data = dict(server.unflatten_data(request.query) or {})
        expand = data.pop("expand", None)
        limit, starting_after = list_param(data)
        customer = data.pop("customer", None)
        invoice = data.pop("invoice", None)
        pending = data.pop("pending", None)
        pending = None if pending is None else bool_param("pending", pending)
        no_unknown(data)
        if customer is not None:
            Customer._api_retrieve(customer)
        items = [
            ii
            for ii in stored("invoiceitem")
            if (customer is None or ii.customer == customer)
            and (invoice is None or ii.invoice == invoice)
            and (pending is None or (ii.invoice is None) == pending)
        ]
        return page("/v1/invoiceitems", newest_first(items), limit, starting_after, expand)

    @web.middleware
    async def idempotency_middleware(request, handler):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or key is None:
            return await handler(request)
        if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            return _error(400, "invalid_request_error", "Idempotency keys are 1 to 255 characters long.")
        scope = (server.get_api_key(request) or "", key)
        params = await server.get_post_data(request, remove_auth=False)
        fingerprint = _fingerprint(request.method, request.path, params)
        now = time.monotonic()
        idempotency.prune(now)
        saved = idempotency.saved.get(scope)
        if saved is not None:
            if saved.fingerprint != fingerprint:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    f"first used with. Try using a key other than '{key}' if you meant to execute a "
                    "different request.",
                )
            return web.Response(
                status=saved.status,
                body=saved.body,
                content_type="application/json",
                headers={"Idempotent-Replayed": "true", "Idempotency-Key": key},
            )
        if scope in idempotency.in_flight:
            return _error(
                409,
                "idempotency_error",
                "There is currently another in-progress request using this Idempotency Key "
                "(that probably means you submitted twice, and the other request is still going "
                "through). Please try again later.",
            )
        idempotency.in_flight.add(scope)
        try:
            try:
                response = await handler(request)
            except UserError as e:
                response = e.to_response()
            except web.HTTPException:
                raise  # no such endpoint: nothing started, nothing saved
            except Exception:  # noqa: BLE001 - saved like Stripe saves its 500s
                log.exception("error in %s %s", request.method, request.path)
                response = _error(500, "api_error", "An unknown error occurred.")
            body = response.body if isinstance(response.body, bytes) else b""
            idempotency.saved[scope] = _SavedResponse(fingerprint, response.status, body, time.monotonic())
            response.headers["Idempotency-Key"] = key
            return response
        finally:
            idempotency.in_flight.discard(scope)

    overrides = {
        ("POST", "/v1/invoices"): create_invoice,
        ("POST", "/v1/invoices/{id}/finalize"): finalize_invoice,
        ("POST", "/v1/invoices/{id}/pay"): pay_invoice,
        ("POST", "/v1/invoices/{id}/mark_uncollectible"): mark_uncollectible,
        ("POST", "/v1/invoices/{id}/void"): void_invoice,
        ("GET", "/v1/invoices"): list_invoices,
        ("GET", "/v1/invoiceitems"): list_invoice_items,
    }
    app = web.Application(
        middlewares=[server.error_middleware, server.auth_middleware, idempotency_middleware]
    )
    for (method, path), handler in overrides.items():
        app.router.add_route(method, path, handler)
    # Then localstripe's own routes, in its order (its extra routes come before the generic ones).
    for route in server.app.router.routes():
        path = route.resource.canonical if route.resource is not None else None
        if path is None or (route.method, path) in overrides:
            continue
        app.router.add_route(route.method, path, route.handler)
    return app


async def _serve(
    host: str, port: int, idempotency_ttl: float, access_log: bool, state_file: str | None = None
) -> None:
    from aiohttp import web

    app = create_app(idempotency_ttl=idempotency_ttl, state_file=state_file)
    runner = web.AppRunner(app, access_log=logging.getLogger("aiohttp.access") if access_log else None)
    await run_until_stopped(runner, host, port, "local Stripe API listening on http://{address}")


async def run_until_stopped(runner, host: str, port: int, banner: str) -> None:
    """Serve an aiohttp AppRunner on host:port until SIGINT or SIGTERM. `banner` is printed once listening,
    with `{address}` replaced by host:port (the real port when 0 was asked for), then " (Ctrl-C to stop)"."""
    from aiohttp import web

    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    address = f"{host}:{runner.addresses[0][1]}"
    print(banner.format(address=address) + " (Ctrl-C to stop)", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    idempotency_ttl: float = DAY_SECONDS,
    access_log: bool = True,
    state_file: str | None = None,
) -> None:
    """Run in the foreground until SIGINT or SIGTERM. Port 0 picks a free port (printed)."""
    if access_log:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    asyncio.run(_serve(host, port, idempotency_ttl, access_log, state_file))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="Port on 127.0.0.1 (0: any free port)."
    )
    parser.add_argument(
        "--idempotency-ttl",
        type=float,
        default=DAY_SECONDS,
        help="Seconds an Idempotency-Key is remembered (default 86400, as Stripe).",
    )
    parser.add_argument("--quiet", action="store_true", help="No access log.")
    parser.add_argument(
        "--state-file",
        default=None,
        help="Keep the server's objects in this file across restarts (default: memory only).",
    )


def serve_as_asked(args: argparse.Namespace) -> None:
    """Serve as the options of add_arguments ask (this module's main and `usage-billing local-stripe`)."""
    serve(
        port=args.port,
        idempotency_ttl=args.idempotency_ttl,
        access_log=not args.quiet,
        state_file=args.state_file,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local-stripe", description=__doc__.splitlines()[0])
    add_arguments(parser)
    serve_as_asked(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
