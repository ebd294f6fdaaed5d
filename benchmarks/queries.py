"""The three yardsticks the project's build is compared with, each one DuckDB query over the same files:

- floor: read the columns billing needs, and nothing else (what any engine must pay);
- hand: one hand-written query doing the billing: parse, validate, dedupe by event_id (earliest copy),
  aggregate per account, meter, endpoint and month, price against the same catalog (per-unit, package,
  graduated and volume tiers, the plan in force) and total per invoice;
- lean: the lean typed query (benchmarks/lean_query.py): DuckDB's typed JSON reader parses the lines, then
  one query dedupes, prices with the contract's rules and returns each invoice's totals; with --out, those
  rows are written to a Parquet file (after the timing) for comparison with the build's marts.fct_invoices.

The hand query is the fair lower bound a skilled analyst would write for the same work. It does less
than the project (no quarantine rows with line text, no conservation per file, no aliases, no anchor
days, no proration, credits, minimums, caps, closing or tests), so the ratio overstates the project's
overhead, never understates it.

    python -m benchmarks.queries floor|hand|lean --events GLOB --format ndjson|parquet [--catalog DIR]
        [--out invoices.parquet]
"""

from __future__ import annotations

import argparse
import json
import time

COLUMNS = ("event_id", "account_id", "meter", "units", "timestamp", "endpoint", "status_code")


def source_sql(glob: str, fmt: str) -> str:
    quoted = "'" + glob.replace("'", "''") + "'"
    if fmt == "parquet":
        cols = ", ".join(f'cast("{c}" as varchar) as "{c}"' for c in COLUMNS)
        return f"(select {cols} from read_parquet({quoted}, union_by_name = true))"
    spec = ", ".join(f"\"{c}\": 'VARCHAR'" for c in COLUMNS)
    return (
        f"read_json({quoted}, format = 'newline_delimited', ignore_errors = true, "
        f"compression = 'auto', columns = {{{spec}}})"
    )


def floor_sql(glob: str, fmt: str) -> str:
    counts = ", ".join(f'count("{c}")' for c in COLUMNS)
    return f"select count(*), {counts} from {source_sql(glob, fmt)}"


def hand_sql(glob: str, fmt: str, catalog: str) -> str:
    def seed(name: str) -> str:
        return f"read_csv('{catalog}/{name}.csv', header = true, all_varchar = true)"

    return f"""
with
events as (
    select
        event_id,
        account_id,
        coalesce(meter, 'api_calls') as meter,
        nullif(split_part(endpoint, '?', 1), '') as endpoint,
        case when units is null then 1 else try_cast(units as decimal(38, 9)) end as units,
        try_cast(try_cast("timestamp" as timestamptz) as timestamp) as event_at,
        case when status_code is null then 200 else try_cast(status_code as integer) end as status_code
    from {source_sql(glob, fmt)}
),
valid as (
    select * from events
    where account_id is not null and event_at is not null and units >= 0
        and status_code between 100 and 599
),
kept as (
    select
        coalesce(event_id, md5(concat_ws('|', account_id, meter, units, event_at, endpoint, status_code)))
            as event_id,
        arg_min(struct_pack(account_id, meter, endpoint, units, event_at, status_code), event_at) as e
    from valid
    group by 1
),
meters as (select * from {seed("meters")}),
usage as (
    select
        e.account_id as account_id, e.meter as meter, e.endpoint as endpoint,
        date_trunc('month', e.event_at) as period_start,
        sum(e.units) as quantity
    from kept
    inner join meters on e.meter = meters.meter
    where e.status_code between 200 and 299
        or (e.status_code between 400 and 499 and meters.billable_statuses like '%4xx%')
    group by all
),
account_plans as (
    select account_id, plan_id, cast(valid_from as date) as valid_from, cast(valid_to as date) as valid_to
    from {seed("account_plans")}
),
prices as (
    select price_id, plan_id, meter, nullif(endpoint, '') as endpoint, billing_scheme, tiers_mode,
        cast(unit_amount as decimal(18, 12)) as unit_amount, cast(package_size as bigint) as package_size
    from {seed("prices")}
),
tiers as (
    select price_id, cast(tier as integer) as tier, cast(nullif(up_to, '') as decimal(20, 9)) as up_to,
        cast(coalesce(nullif(unit_amount, ''), '0') as decimal(18, 12)) as unit_amount,
        cast(coalesce(nullif(flat_amount, ''), '0') as decimal(18, 12)) as flat_amount
    from {seed("price_tiers")}
),
matched as (
    select usage.account_id, usage.period_start, prices.price_id, prices.billing_scheme, prices.tiers_mode,
        prices.unit_amount, prices.package_size, usage.quantity
    from usage
    inner join account_plans
        on usage.account_id = account_plans.account_id
        and usage.period_start >= account_plans.valid_from
        and (account_plans.valid_to is null or usage.period_start < account_plans.valid_to)
    inner join prices
        on prices.plan_id = account_plans.plan_id and prices.meter = usage.meter
        and (prices.endpoint is null or prices.endpoint = usage.endpoint)
    qualify row_number() over (
        partition by usage.account_id, usage.period_start, usage.meter, usage.endpoint
        order by prices.endpoint nulls last
    ) = 1
),
quantities as (
    select account_id, period_start, price_id, billing_scheme, tiers_mode, unit_amount, package_size,
        cast(sum(quantity) as decimal(20, 9)) as quantity
    from matched
    group by all
),
tier_bounds as (
    select *, coalesce(lag(up_to) over (partition by price_id order by tier), 0) as from_units from tiers
),
line_amounts as (
    select quantities.account_id, quantities.period_start,
        case
            when billing_scheme = 'per_unit' then quantity * quantities.unit_amount
            when billing_scheme = 'package' then ((cast(ceil(quantity) as bigint) + package_size - 1) // package_size) * quantities.unit_amount
        end as amount
    from quantities
    where billing_scheme in ('per_unit', 'package')
    union all
    select quantities.account_id, quantities.period_start,
        case
            when tiers_mode = 'graduated' then
                greatest(least(quantity, coalesce(tier_bounds.up_to, quantity)) - tier_bounds.from_units, 0)
                    * tier_bounds.unit_amount
                + case when quantity > tier_bounds.from_units or tier_bounds.tier = 1
                    then tier_bounds.flat_amount else 0 end
            when quantity > tier_bounds.from_units
                and (tier_bounds.up_to is null or quantity <= tier_bounds.up_to)
                then quantity * tier_bounds.unit_amount + tier_bounds.flat_amount
            else 0
        end as amount
    from quantities
    inner join tier_bounds on quantities.price_id = tier_bounds.price_id
    where billing_scheme = 'tiered'
)
select count(*) as invoices, sum(total) as revenue
from (
    select account_id, period_start, sum(round(cast(amount as decimal(38, 12)), 2)) as total
    from line_amounts
    group by all
)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("query", choices=["floor", "hand", "lean"])
    parser.add_argument("--events", required=True, help="Glob of the event files")
    parser.add_argument("--format", default="ndjson", choices=["ndjson", "parquet"])
    parser.add_argument("--catalog", default="seeds")
    parser.add_argument("--memory-limit", default=None)
    parser.add_argument("--out", default=None, help="lean: write each invoice's totals to this Parquet file")
    args = parser.parse_args(argv)

    import duckdb

    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    if args.memory_limit:
        con.execute(f"set memory_limit = '{args.memory_limit}'")
    if args.query == "lean":
        from benchmarks.lean_query import lean_sql

        started = time.monotonic()
        con.execute(f"create temp table lean_invoices as {lean_sql(args.events, args.format, args.catalog)}")
        elapsed = time.monotonic() - started
        if args.out:
            con.execute(f"copy lean_invoices to '{args.out.replace(chr(39), chr(39) * 2)}' (format parquet)")
        revenue = con.execute("select count(*), sum(total) from lean_invoices").fetchone()
        print(json.dumps({"query": "lean", "seconds": elapsed, "result": [str(v) for v in revenue]}))
        return 0
    sql = (
        floor_sql(args.events, args.format)
        if args.query == "floor"
        else hand_sql(args.events, args.format, args.catalog)
    )
    started = time.monotonic()
    row = con.execute(sql).fetchone()
    elapsed = time.monotonic() - started
    print(json.dumps({"query": args.query, "seconds": elapsed, "result": [str(v) for v in row]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
