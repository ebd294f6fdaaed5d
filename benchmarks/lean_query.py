"""The lean typed query: the third yardstick (issue 18, "The yardstick gets honest").

One DuckDB query that lets DuckDB's typed JSON reader parse the lines (`read_json` with the contract's
columns, CONTRACT.md section 1), then validates, dedupes by event_id (E2: earliest timestamp, ties to the
smaller file path), keeps the billable events of known accounts and meters (E4), and prices them against
the catalog seeds: billing periods by anchor day (P1), invoices before as_of (P2), plan segments with
prorated base fees (P9), price matching by endpoint (P4), sum/count/max/unique_count (P3), hard limits
(P8), per-unit, package, graduated and volume prices (P5-P7), cap then minimum (P10), prepaid credits
drawn soonest expiry first and carried forward (P11), each line rounded half away from zero (P12).
It returns one row per invoice: account, period start, currency, subtotal, credits applied and total.

What it leaves out, because a fresh full build of generated events never needs it: quarantine rows,
conservation per file, conflicts, closed periods and late-event adjustments (P13/P14), alerts, the
catalog's own checks, and the line-number tie-break within one file (only the file path breaks ties).
Units, status codes and timestamps are read as the JSON reader's text and cast, because a typed
column cannot tell an absent value (a default applies) from a malformed one (the line is invalid).
"""

from __future__ import annotations

COLUMNS = {
    "event_id": "VARCHAR",
    "account_id": "VARCHAR",
    "customer_id": "VARCHAR",
    "user_id": "VARCHAR",
    "meter": "VARCHAR",
    "event_name": "VARCHAR",
    "units": "VARCHAR",
    "quantity": "VARCHAR",
    "timestamp": "VARCHAR",
    "endpoint": "VARCHAR",
    "status_code": "VARCHAR",
    "metadata": "STRUCT(endpoint VARCHAR, status VARCHAR)",
    "properties": "JSON",
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _events_sql(glob: str, fmt: str) -> str:
    if fmt == "parquet":
        # Parquet files of the generator have no aliases; properties are JSON text.
        return f"""(
            select
                filename, event_id, account_id, null as customer_id, null as user_id,
                meter, null as event_name, cast(units as varchar) as units, null as quantity,
                cast("timestamp" as varchar) as "timestamp", endpoint,
                cast(status_code as varchar) as status_code,
                cast(null as struct(endpoint varchar, status varchar)) as metadata,
                cast(properties as json) as properties
            from read_parquet({_literal(glob)}, union_by_name = true, filename = true)
        )"""
    spec = ", ".join(f"{_literal(name)}: {_literal(kind)}" for name, kind in COLUMNS.items())
    return (
        f"read_json({_literal(glob)}, format = 'newline_delimited', ignore_errors = true, "
        f"compression = 'auto', filename = true, columns = {{{spec}}})"
    )


def _seed(catalog: str, name: str) -> str:
    return f"read_csv({_literal(catalog + '/' + name + '.csv')}, header = true, all_varchar = true)"


def _round(amount: str, minor_units: str) -> str:
    """Half away from zero (DuckDB's round on decimals) to the currency's minor units, exactly."""
    branches = " ".join(
        f"when {scale} then cast(round({amount}, {scale}) as decimal(38, 4))" for scale in range(5)
    )
    return f"(case {minor_units} {branches} end)"


def _round_div(numerator: str, denominator: str, minor_units: str) -> str:
    """numerator / denominator rounded half away from zero, through integers (decimal division is DOUBLE)."""
    scaled = f"cast(cast({numerator} as decimal(38, 12)) * 1000000000000 as hugeint)"
    branches = []
    for scale in range(5):
        den = f"(cast({denominator} as hugeint) * {10 ** (12 - scale)})"
        rounded = f"sign({scaled}) * ((2 * abs({scaled}) + {den}) // (2 * {den}))"
        branches.append(
            f"when {scale} then cast(cast({rounded} as decimal(38, 0)) / {10**scale} as decimal(38, 4))"
        )
    return f"(case {minor_units} {' '.join(branches)} end)"


def lean_sql(glob: str, fmt: str, catalog: str) -> str:
    return f"""
with recursive
raw_events as (
    select * from {_events_sql(glob, fmt)}
),
parsed as (
    select
        filename,
        nullif(event_id, '') as event_id,
        coalesce(account_id, customer_id, user_id) as account_id,
        coalesce(nullif(coalesce(meter, event_name), ''), 'api_calls') as meter,
        coalesce(units, quantity) as units_text,
        try_cast(coalesce(units, quantity) as decimal(38, 18)) as units_wide,
        case when length("timestamp") > 10 then try_cast("timestamp" as timestamptz) end as event_at,
        nullif(split_part(coalesce(endpoint, metadata.endpoint), '?', 1), '') as endpoint,
        coalesce(status_code, metadata.status) as status_text,
        properties
    from raw_events
),
valid as (
    select
        filename, event_id, account_id, meter, endpoint, event_at, properties,
        cast(coalesce(units_wide, 1) as decimal(38, 9)) as units,
        cast(coalesce(status_text, '200') as integer) as status_code
    from parsed
    where account_id <> ''
        and event_at is not null
        and (units_text is null
            or (units_wide >= 0 and units_wide < 1000000000000000 and units_wide = round(units_wide, 9)))
        and (status_text is null
            or (regexp_full_match(status_text, '[0-9]{{1,3}}')
                and cast(status_text as integer) between 100 and 599))
),
kept as (
    -- E2: the earliest copy of an event id wins; id-less events get an id from their content.
    select
        arg_min(
            struct_pack(account_id, meter, endpoint, units, event_at, status_code, properties),
            struct_pack(event_at, filename)
        ) as e
    from valid
    group by coalesce(
        event_id,
        md5(concat_ws('|', account_id, meter, units, event_at, endpoint, status_code, properties))
    )
),
as_of as (
    select max(e.event_at) as as_of from kept
),
accounts as (
    select
        account_id,
        cast(coalesce(nullif(billing_anchor_day, ''), '1') as integer) as anchor_day,
        coalesce(lower(is_test) in ('true', 't', '1', 'yes'), false) as is_test
    from {_seed(catalog, "accounts")}
),
meters as (
    select meter, aggregation, nullif(unique_field, '') as unique_field, billable_statuses
    from {_seed(catalog, "meters")}
),
account_plans as (
    select account_id, plan_id, cast(valid_from as date) as valid_from,
        cast(nullif(valid_to, '') as date) as valid_to
    from {_seed(catalog, "account_plans")}
),
plans as (
    select plans.plan_id, lower(plans.currency) as currency, currencies.minor_units,
        cast(coalesce(nullif(plans.base_fee, ''), '0') as decimal(38, 12)) as base_fee,
        cast(nullif(plans.minimum_amount, '') as decimal(38, 12)) as minimum_amount,
        cast(nullif(plans.maximum_amount, '') as decimal(38, 12)) as maximum_amount
    from {_seed(catalog, "plans")} as plans
    inner join (
        select currency, cast(minor_units as integer) as minor_units from {_seed(catalog, "currencies")}
    ) as currencies on lower(plans.currency) = currencies.currency
),
prices as (
    select
        price_id, plan_id, meter, billing_scheme,
        coalesce(nullif(tiers_mode, ''), 'graduated') as tiers_mode,
        cast(nullif(unit_amount, '') as decimal(38, 12)) as unit_amount,
        cast(coalesce(nullif(package_size, ''), '1') as bigint) as package_size,
        coalesce(nullif(package_rounding, ''), 'up') as package_rounding,
        cast(nullif(hard_limit, '') as decimal(38, 9)) as hard_limit,
        case when coalesce(endpoint, '') in ('', '*') then 0 when endpoint like '%*' then 1 else 2 end
            as match_kind,
        case when endpoint like '%*' then left(endpoint, length(endpoint) - 1) else endpoint end
            as endpoint_pattern
    from {_seed(catalog, "prices")}
),
tiers as (
    select
        price_id, tier,
        cast(nullif(up_to, '') as decimal(38, 9)) as up_to,
        cast(coalesce(nullif(unit_amount, ''), '0') as decimal(38, 12)) as unit_amount,
        cast(coalesce(nullif(flat_amount, ''), '0') as decimal(38, 12)) as flat_amount,
        coalesce(lag(cast(nullif(up_to, '') as decimal(38, 9))) over (partition by price_id order by tier), 0)
            as lower_bound
    from (select *, cast(tier as integer) as tier from {_seed(catalog, "price_tiers")})
),
billable as (
    -- E4 + P1: billable events of known, non-test accounts and known meters, in the account's period.
    select
        e.account_id as account_id, e.meter as meter, e.endpoint as endpoint, e.units as units,
        cast(e.event_at as date) as usage_date,
        case
            when meters.unique_field = 'endpoint' then e.endpoint
            when meters.unique_field like 'properties.%' and json_type(
                json_extract(e.properties, '$.' || substr(meters.unique_field, 12))) <> 'NULL'
                then cast(json_extract(e.properties, '$.' || substr(meters.unique_field, 12)) as varchar)
        end as unique_value,
        meters.aggregation,
        accounts.anchor_day
    from kept
    inner join accounts on e.account_id = accounts.account_id and not accounts.is_test
    inner join meters on e.meter = meters.meter
    where e.status_code between 200 and 299
        or (e.status_code between 400 and 499 and meters.billable_statuses like '%4xx%')
),
usage_plans as (
    select
        billable.*,
        account_plans.plan_id,
        account_plans.valid_from as plan_valid_from,
        cast(case when day(usage_date) >= anchor_day
            then date_trunc('month', usage_date) + to_days(anchor_day - 1)
            else date_trunc('month', usage_date) - interval 1 month + to_days(anchor_day - 1)
        end as date) as period_start
    from billable
    inner join account_plans
        on billable.account_id = account_plans.account_id
        and account_plans.valid_from <= billable.usage_date
        and (account_plans.valid_to is null or account_plans.valid_to > billable.usage_date)
),
usage_keys as (
    select distinct plan_id, meter, endpoint from usage_plans
),
best_prices as (
    -- P4: an exact endpoint beats the longest prefix pattern, which beats a blank endpoint.
    select usage_keys.plan_id, usage_keys.meter, usage_keys.endpoint, prices.price_id
    from usage_keys
    inner join prices
        on usage_keys.plan_id = prices.plan_id and usage_keys.meter = prices.meter
        and (prices.match_kind = 0
            or (prices.match_kind = 2 and usage_keys.endpoint = prices.endpoint_pattern)
            or (prices.match_kind = 1 and starts_with(usage_keys.endpoint, prices.endpoint_pattern)))
    qualify row_number() over (
        partition by usage_keys.plan_id, usage_keys.meter, usage_keys.endpoint
        order by prices.match_kind desc, length(coalesce(prices.endpoint_pattern, '')) desc
    ) = 1
),
segment_quantities as (
    select
        usage_plans.account_id, usage_plans.period_start, usage_plans.plan_valid_from, best_prices.price_id,
        case any_value(usage_plans.aggregation)
            when 'count' then cast(count(*) as decimal(38, 9))
            when 'max' then max(usage_plans.units)
            when 'unique_count' then cast(count(distinct usage_plans.unique_value) as decimal(38, 9))
            else sum(usage_plans.units)
        end as quantity
    from usage_plans
    inner join best_prices
        on usage_plans.plan_id = best_prices.plan_id and usage_plans.meter = best_prices.meter
        and usage_plans.endpoint is not distinct from best_prices.endpoint
    group by all
),
periods as (
    -- P1 + P2: from the period holding the account's first plan day, every period starting before as_of.
    select first_days.account_id, cast(first_start + to_months(n) as date) as period_start,
        cast(first_start + to_months(n + 1) as date) as period_end
    from (
        select accounts.account_id,
            case when day(min(account_plans.valid_from)) >= any_value(accounts.anchor_day)
                then date_trunc('month', min(account_plans.valid_from)) + to_days(any_value(accounts.anchor_day) - 1)
                else date_trunc('month', min(account_plans.valid_from)) - interval 1 month
                    + to_days(any_value(accounts.anchor_day) - 1)
            end as first_start
        from accounts
        inner join account_plans on accounts.account_id = account_plans.account_id
        where not accounts.is_test
        group by accounts.account_id
    ) as first_days
    cross join range(0, 1200) as offsets(n)
    where first_start + to_months(n) < (select as_of from as_of)
),
segments as (
    select
        periods.account_id, periods.period_start, periods.period_end,
        account_plans.plan_id, account_plans.valid_from as plan_valid_from,
        greatest(account_plans.valid_from, periods.period_start) as segment_start,
        least(coalesce(account_plans.valid_to, periods.period_end), periods.period_end) as segment_end,
        plans.currency, plans.minor_units, plans.base_fee, plans.minimum_amount, plans.maximum_amount
    from periods
    inner join account_plans
        on periods.account_id = account_plans.account_id
        and account_plans.valid_from < periods.period_end
        and (account_plans.valid_to is null or account_plans.valid_to > periods.period_start)
    inner join plans on account_plans.plan_id = plans.plan_id
),
segment_prices as (
    -- P8: the billed quantity stops at the hard limit.
    select
        segments.account_id, segments.period_start, segments.minor_units,
        prices.price_id, prices.billing_scheme, prices.tiers_mode, prices.unit_amount,
        prices.package_size, prices.package_rounding,
        least(coalesce(segment_quantities.quantity, 0), coalesce(prices.hard_limit, coalesce(segment_quantities.quantity, 0)))
            as quantity
    from segments
    inner join prices on segments.plan_id = prices.plan_id
    left join segment_quantities
        on segments.account_id = segment_quantities.account_id
        and segments.period_start = segment_quantities.period_start
        and segments.plan_valid_from = segment_quantities.plan_valid_from
        and prices.price_id = segment_quantities.price_id
),
lines as (
    select account_id, period_start, 'base_fee' as line_type,
        {
        _round_div(
            "base_fee * datediff('day', segment_start, segment_end)",
            "datediff('day', period_start, period_end)",
            "minor_units",
        )
    }
            as amount
    from segments
    union all
    select account_id, period_start, 'usage',
        {
        _round(
            "case when package_size > 1 then cast(case when package_rounding = 'down' "
            "then cast(quantity * 1000000000 as hugeint) // (package_size * 1000000000) "
            "else (cast(quantity * 1000000000 as hugeint) + package_size * 1000000000 - 1) "
            "// (package_size * 1000000000) end as decimal(38, 0)) * unit_amount "
            "else quantity * unit_amount end",
            "minor_units",
        )
    }
    from segment_prices
    where billing_scheme = 'per_unit'
    union all
    select segment_prices.account_id, segment_prices.period_start, 'usage',
        {
        _round(
            "case when segment_prices.tiers_mode = 'volume' then segment_prices.quantity "
            "else least(segment_prices.quantity, coalesce(tiers.up_to, segment_prices.quantity)) "
            "- tiers.lower_bound end * tiers.unit_amount + tiers.flat_amount",
            "segment_prices.minor_units",
        )
    }
    from segment_prices
    inner join tiers on segment_prices.price_id = tiers.price_id
    where segment_prices.billing_scheme = 'tiered'
        and (tiers.tier = 1 or segment_prices.quantity > tiers.lower_bound)
        and (segment_prices.tiers_mode <> 'volume' or tiers.up_to is null or segment_prices.quantity <= tiers.up_to)
),
invoice_amounts as (
    select account_id, period_start,
        sum(case when line_type = 'usage' then amount else 0 end) as usage_amount,
        sum(case when line_type = 'base_fee' then amount else 0 end) as base_fee_amount
    from lines
    group by all
),
invoices as (
    -- P10: cap, then minimum, from the plan in force at the period's end.
    select
        closing.account_id, closing.period_start, closing.period_end, closing.currency, closing.minor_units,
        coalesce(invoice_amounts.base_fee_amount, 0) as base_fee_amount,
        coalesce(invoice_amounts.usage_amount, 0) as usage_amount,
        case when closing.maximum_amount is not null and coalesce(invoice_amounts.usage_amount, 0) > closing.maximum_amount
            then {
        _round("closing.maximum_amount - coalesce(invoice_amounts.usage_amount, 0)", "closing.minor_units")
    }
            else 0 end as cap_amount,
        closing.minimum_amount
    from (
        select * from segments
        qualify row_number() over (
            partition by account_id, period_start order by segment_end desc, plan_valid_from desc
        ) = 1
    ) as closing
    left join invoice_amounts
        on closing.account_id = invoice_amounts.account_id and closing.period_start = invoice_amounts.period_start
),
invoice_subtotals as (
    select *,
        case when minimum_amount is not null and base_fee_amount + usage_amount + cap_amount < minimum_amount
            then {_round("minimum_amount - (base_fee_amount + usage_amount + cap_amount)", "minor_units")}
            else 0 end as minimum_line,
        greatest(usage_amount + cap_amount, 0) as creditable_amount,
        row_number() over (partition by account_id order by period_start) as invoice_seq
    from invoices
),
grants as (
    select grant_id, account_id, cast(amount as decimal(38, 12)) as grant_amount,
        cast(effective_at as date) as effective_at, cast(nullif(expires_at, '') as date) as expires_at,
        row_number() over (
            partition by account_id order by expires_at is null or expires_at = '', nullif(expires_at, ''),
                effective_at, grant_id
        ) as grant_priority
    from {_seed(catalog, "credit_grants")}
),
allocations as (
    -- P11: one step per invoice of an account; usable grants pay in priority order, the rest carries on.
    select account_id, grant_id, grant_priority, effective_at, expires_at,
        cast(0 as bigint) as invoice_seq, cast(null as date) as period_start,
        cast(0 as decimal(38, 12)) as used, grant_amount as closing_balance
    from grants
    where account_id in (select account_id from invoice_subtotals)
    union all
    select account_id, grant_id, grant_priority, effective_at, expires_at, invoice_seq, period_start, used,
        cast(opening_balance - used
            - case when expires_at is not null and expires_at <= period_end then opening_balance - used else 0 end
            as decimal(38, 12)) as closing_balance
    from (
        select *,
            cast(case
                when not is_usable then 0
                when creditable_amount - (available_through - opening_balance) <= 0 then 0
                when creditable_amount - (available_through - opening_balance) >= opening_balance then opening_balance
                else creditable_amount - (available_through - opening_balance)
            end as decimal(38, 12)) as used
        from (
            select *,
                sum(case when is_usable then opening_balance else 0 end) over (
                    partition by account_id order by grant_priority
                    rows between unbounded preceding and current row
                ) as available_through
            from (
                select
                    previous.account_id, previous.grant_id, previous.grant_priority, previous.effective_at,
                    previous.expires_at, invoice_subtotals.invoice_seq, invoice_subtotals.period_start,
                    invoice_subtotals.period_end, invoice_subtotals.creditable_amount,
                    previous.closing_balance as opening_balance,
                    previous.effective_at < invoice_subtotals.period_end
                        and (previous.expires_at is null or previous.expires_at > invoice_subtotals.period_end)
                        and previous.closing_balance > 0 as is_usable
                from allocations as previous
                inner join invoice_subtotals
                    on previous.account_id = invoice_subtotals.account_id
                    and invoice_subtotals.invoice_seq = previous.invoice_seq + 1
            )
        )
    )
),
credits as (
    select allocations.account_id, allocations.period_start,
        sum({_round("allocations.used", "invoice_subtotals.minor_units")}) as credits_applied
    from allocations
    inner join invoice_subtotals
        on allocations.account_id = invoice_subtotals.account_id
        and allocations.period_start = invoice_subtotals.period_start
    where allocations.invoice_seq > 0 and allocations.used > 0
    group by all
)
select
    invoice_subtotals.account_id,
    invoice_subtotals.period_start,
    invoice_subtotals.currency,
    base_fee_amount + usage_amount + cap_amount + minimum_line as subtotal,
    coalesce(credits.credits_applied, 0) as credits_applied,
    base_fee_amount + usage_amount + cap_amount + minimum_line - coalesce(credits.credits_applied, 0) as total
from invoice_subtotals
left join credits
    on invoice_subtotals.account_id = credits.account_id and invoice_subtotals.period_start = credits.period_start
order by 1, 2
"""
