"""Stripe: push final invoices exactly once (push.py), read them back (reconcile.py), and the local
Stripe-API-compatible server the demo and the tests use (local_server.py). See docs/stripe.md."""
