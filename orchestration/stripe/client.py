"""The Stripe API as the push uses it: the official SDK, a live-key guard, retries, and no key in any text.

Retries: the SDK retries connection errors, 409s and 5xx itself (`max_network_retries`), sending the
same idempotency key each time; it does not retry 429 (rate limited) unless Stripe says
`Stripe-Should-Retry: true`, so `StripeApi` retries those with the same key and exponential backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import stripe

DEFAULT_API_BASE = "https://api.stripe.com"
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")
REDACTED = "[STRIPE_API_KEY]"

T = TypeVar("T")


class StripeSetupError(Exception):
    """The push cannot talk to Stripe as configured (no key, a live key without --live)."""


def is_live_key(api_key: str) -> bool:
    return api_key.startswith(LIVE_KEY_PREFIXES)


def check_key(api_key: str | None, *, live: bool) -> str:
    """The key to use, or a StripeSetupError whose message never contains the key."""
    if not api_key:
        raise StripeSetupError("STRIPE_API_KEY is not set (a test key, sk_test_..., or any sk_ key locally)")
    if is_live_key(api_key) and not live:
        raise StripeSetupError(
            "STRIPE_API_KEY is a live-mode key: refusing to push real invoices without --live "
            "(run config live: true)"
        )
    return api_key


def redact(text: str, api_key: str | None) -> str:
    """`text` with the API key (and anything that looks like a secret key) replaced."""
    if api_key:
        text = text.replace(api_key, REDACTED)
    return text


class _TunedRequestsClient(stripe.RequestsClient):
    """The SDK's HTTP client with a configurable first retry delay (SDK default 0.5 s, at most 5 s).

    The SDK has no public setting for it: this overrides its backoff hook `_sleep_time_seconds`."""

    def __init__(self, initial_delay: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._initial_delay = initial_delay

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return min(self._initial_delay * (2 ** (num_retries - 1)), self.MAX_DELAY)


class StripeApi:
    """The few Stripe calls the push makes. Every create carries the idempotency key it is given."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        live: bool = False,
        max_network_retries: int = 5,
        retry_delay: float = 0.5,
    ) -> None:
        self._api_key = check_key(api_key, live=live)
        self.api_base = api_base.rstrip("/")
        self.max_network_retries = max_network_retries
        self.retry_delay = retry_delay
        self.requests = 0
        self._client = stripe.StripeClient(
            self._api_key,
            base_addresses={"api": self.api_base},
            max_network_retries=max_network_retries,
            http_client=_TunedRequestsClient(initial_delay=retry_delay),
        )

    def redact(self, text: str) -> str:
        return redact(text, self._api_key)

    def _call(self, fn: Callable[[], T]) -> T:
        """Retry 429s (same request, same idempotency key) with exponential backoff."""
        attempt = 0
        while True:
            self.requests += 1
            try:
                return fn()
            except stripe.RateLimitError:
                attempt += 1
                if attempt > self.max_network_retries:
                    raise
                time.sleep(min(self.retry_delay * 2 ** (attempt - 1), 5.0))

    def _all(self, list_fn: Callable[[dict], Any], params: dict) -> Iterator[Any]:
        """Every object of a list endpoint, page by page (100 a page)."""
        starting_after = None
        while True:
            page_params = {**params, "limit": 100}
            if starting_after:
                page_params["starting_after"] = starting_after
            page = self._call(lambda p=page_params: list_fn(p))
            yield from page.data
            if not page.has_more or not page.data:
                return
            starting_after = page.data[-1].id

    # -- reads --
    def list_invoices(self, customer: str) -> list[Any]:
        return list(self._all(lambda p: self._client.v1.invoices.list(params=p), {"customer": customer}))

    def list_invoice_items(
        self, *, customer: str | None = None, invoice: str | None = None, pending: bool | None = None
    ) -> list[Any]:
        params: dict[str, Any] = {}
        if customer is not None:
            params["customer"] = customer
        if invoice is not None:
            params["invoice"] = invoice
        if pending is not None:
            params["pending"] = pending
        return list(self._all(lambda p: self._client.v1.invoice_items.list(params=p), params))

    def retrieve_invoice(self, invoice_id: str) -> Any:
        return self._call(lambda: self._client.v1.invoices.retrieve(invoice_id))

    # -- writes (each with its idempotency key) --
    def create_customer(self, params: dict, idempotency_key: str) -> Any:
        return self._call(
            lambda: self._client.v1.customers.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )

    def create_invoice_item(self, params: dict, idempotency_key: str) -> Any:
        return self._call(
            lambda: self._client.v1.invoice_items.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )

    def create_invoice(self, params: dict, idempotency_key: str) -> Any:
        return self._call(
            lambda: self._client.v1.invoices.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        )

    def finalize_invoice(self, invoice_id: str, params: dict, idempotency_key: str) -> Any:
        return self._call(
            lambda: self._client.v1.invoices.finalize_invoice(
                invoice_id, params=params, options={"idempotency_key": idempotency_key}
            )
        )


def describe_error(error: Exception, api_key: str | None) -> str:
    """One line for the ledger and the logs: error class, HTTP status, Stripe code and message."""
    if isinstance(error, stripe.StripeError):
        parts = [type(error).__name__]
        if error.http_status:
            parts.append(f"HTTP {error.http_status}")
        if error.code:
            parts.append(f"code {error.code}")
        message = error.user_message or str(error)
        text = f"{', '.join(parts)}: {message}"
    else:
        text = f"{type(error).__name__}: {error}"
    return redact(text, api_key)


def is_permanent(error: Exception) -> bool:
    """A 4xx other than 409/429: retrying the same request will not help."""
    status = getattr(error, "http_status", None)
    return isinstance(status, int) and 400 <= status < 500 and status not in (409, 429)
