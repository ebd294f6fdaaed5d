"""usage_billing's Python side, one job per folder:

- `cli.py`, `progress.py`: the `usage-billing` command and what it prints while a run works.
- `code_location/`: the Dagster code location (definitions, assets, checks, partitions, schedules, sensor,
  resources, the command line's instance).
- `warehouse/`: the dbt project and the warehouse file (paths, partial parsing, catalog fingerprint, disk
  checks and undo, the writer's lock).
- `events/`: reading event files and objects (the intake's checks, the dbt-duckdb plugin).
- `stripe/`: the Stripe integration (the exactly-once push and its ledger, payment status, webhooks, the
  local Stripe-API server).
- `readers/`: the reader tools (summary, statements, explain, review, simulate, receivables, entitlements,
  export) and the metadata figures.
- `money.py`: exact amounts in minor units.
"""
