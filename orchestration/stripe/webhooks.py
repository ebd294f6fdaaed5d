"""`usage-billing stripe-webhooks`: a small endpoint for Stripe's invoice webhooks that only triggers a read.

POST /stripe/webhooks with Stripe's `Stripe-Signature` header. The signature is verified with the SDK
(`stripe.Webhook.construct_event`, which also refuses a timestamp older than 5 minutes) against
`STRIPE_WEBHOOK_SECRET` (whsec_...; from the environment only): a request without a valid signature is
refused with 400 and triggers nothing. For invoice events (INVOICE_EVENTS) the endpoint answers 200 at
once and then runs `usage-billing payment-status --invoice <id>`: the same read as the schedule's, of that
invoice only. Nothing in the webhook's body but the invoice id is used: amounts and status come from the
read. Reads run one at a time, in the order received; the warehouse lock orders them with builds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import stripe

INVOICE_EVENTS = (
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.marked_uncollectible",
    "invoice.voided",
    "invoice.finalized",
)
DEFAULT_PORT = 8421
PATH = "/stripe/webhooks"

log = logging.getLogger("usage_billing.stripe_webhooks")


def verified_invoice_id(payload: bytes, signature: str | None, secret: str) -> str | None:
    """The invoice id of a correctly signed invoice event (None for other events); ValueError if the
    payload is not JSON, stripe.SignatureVerificationError if the signature is missing or wrong."""
    if not signature:
        raise stripe.SignatureVerificationError("no Stripe-Signature header", signature, payload)
    event = stripe.Webhook.construct_event(payload, signature, secret)
    if event.type not in INVOICE_EVENTS:
        return None
    invoice_id = getattr(event.data.object, "id", None)  # an SDK object, not a dict
    return invoice_id if isinstance(invoice_id, str) and invoice_id.startswith("in_") else None


def create_app(secret: str, read_command: list[str]):
    from aiohttp import web

    queue: asyncio.Queue[str] = asyncio.Queue()

    async def reader() -> None:
        while True:
            invoice_id = await queue.get()
            log.info("reading %s from Stripe: %s", invoice_id, " ".join(read_command[1:]))
            # Its output goes to this server's log (stderr).
            process = await asyncio.create_subprocess_exec(
                *read_command, "--invoice", invoice_id, stdout=sys.stderr.fileno()
            )
            code = await process.wait()
            log.info("payment-status --invoice %s exited %s", invoice_id, code)
            queue.task_done()

    async def start_reader(app) -> None:
        app["reader"] = asyncio.create_task(reader())

    async def stop_reader(app) -> None:
        app["reader"].cancel()

    async def receive(request):
        payload = await request.read()
        try:
            invoice_id = verified_invoice_id(payload, request.headers.get("Stripe-Signature"), secret)
        except (stripe.SignatureVerificationError, ValueError) as e:
            log.warning("refused a webhook: %s", e)
            return web.json_response({"error": "invalid signature"}, status=400)
        if invoice_id:
            await queue.put(invoice_id)
        return web.json_response({"received": True, "read": invoice_id})

    app = web.Application()
    app.router.add_post(PATH, receive)
    app["queue"] = queue
    app.on_startup.append(start_reader)
    app.on_cleanup.append(stop_reader)
    return app


def serve(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> int:
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
    if not secret:
        sys.stderr.write(
            "stripe-webhooks: STRIPE_WEBHOOK_SECRET is not set (the endpoint's whsec_... secret)\n"
        )
        return 1
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    command = [str(Path(sys.executable).parent / "usage-billing"), "payment-status", "--log-level", "WARNING"]

    from aiohttp import web

    from orchestration.stripe.local_server import run_until_stopped

    runner = web.AppRunner(create_app(secret, command))
    asyncio.run(run_until_stopped(runner, host, port, "Stripe webhooks on http://{address}" + PATH))
    return 0
