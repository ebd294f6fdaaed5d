"""usage_billing's Dagster code location and command line."""
