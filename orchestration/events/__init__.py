"""Synthetic raw usage event generation (see ``generator``)."""

from orchestration.events.generator import MALFORMED_KINDS, PARQUET_SCHEMA, generate_events

__all__ = ["MALFORMED_KINDS", "PARQUET_SCHEMA", "generate_events"]
