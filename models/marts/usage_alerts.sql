{#- Thresholds reached (50, 80 and 100 %) per account and period, with when they were crossed:
    - included_allowance: a price's free first tier (unit_amount 0, no flat fee), e.g. 50,000 calls;
    - hard_limit: a price's hard_limit (P8); at 100 % the units past it are not billed (excess_quantity);
    - spend_cap: the plan's maximum_amount (P10) against the period's usage charges;
    - credit_balance: how much of a prepaid grant is used up (P11); 80 % is a low balance.
    Quantity thresholds are per price and plan segment, like the quantities they watch, and crossed_at is
    the event that reached them. Spend is priced from cumulative quantities at the end of each day, so a
    spend_cap alert gives the day (crossed_at = 00:00 UTC the next day, when that day's usage is complete).
    Credits are drawn when an invoice is priced, so credit_balance alerts are dated at the period end. -#}
with

price_quantities as (

    select * from {{ ref('int_invoice_price_quantities') }}

),

tier_bounds as (

    select * from {{ ref('int_price_tier_bounds') }}

),

priced_lines as (

    select * from {{ ref('int_invoice_lines_priced') }}

),

-- Invoices with a spend cap: the maximum_amount of the plan that decides P10.
capped_invoices as (

    select * from {{ ref('int_invoice_closing_plans') }}
    where maximum_amount > 0

),

credit_balances as (

    select * from {{ ref('fct_credit_balances') }}

),

prices_accumulated as (

    select * from {{ ref('int_usage_prices_accumulated') }}

),

thresholds as (

    {{ usage_billing.alert_thresholds() }}

),

-- Quantity thresholds: when each was crossed (the only part that reads kept events, kept by period).
quantity_alerts as (

    select crossings.*
    from {{ ref('int_usage_threshold_crossings') }} as crossings
    where exists (
        select 1
        from {{ ref('int_usage_thresholds_reached') }} as reached
        where {{ usage_billing.same_threshold('reached', 'crossings') }}
    )

),

-- Spend: each price of the invoice priced at its cumulative quantity at the end of every usage day
-- (the same tier arithmetic as the invoice lines, before rounding), summed over the invoice's prices.
invoice_days as (

    select distinct
        capped_invoices.invoice_id,
        prices_accumulated.usage_date
    from capped_invoices
    inner join prices_accumulated
        on capped_invoices.account_id = prices_accumulated.account_id
        and capped_invoices.period_start = prices_accumulated.period_start

),

price_days as (

    select
        invoice_days.invoice_id,
        invoice_days.usage_date,
        price_quantities.price_id,
        price_quantities.plan_valid_from,
        price_quantities.billing_scheme,
        price_quantities.tiers_mode,
        price_quantities.price_unit_amount,
        price_quantities.package_size,
        price_quantities.package_rounding,
        price_quantities.hard_limit,
        coalesce(max(prices_accumulated.cumulative_quantity), 0) as used_so_far
    from invoice_days
    inner join price_quantities
        on invoice_days.invoice_id = price_quantities.invoice_id
    left join prices_accumulated
        on price_quantities.account_id = prices_accumulated.account_id
        and price_quantities.period_start = prices_accumulated.period_start
        and price_quantities.plan_valid_from = prices_accumulated.plan_valid_from
        and price_quantities.price_id = prices_accumulated.price_id
        and prices_accumulated.usage_date <= invoice_days.usage_date
    {{ usage_billing.group_by(10) }}

),

price_days_capped as (

    select
        price_days.*,
        {{ usage_billing.quantity_within_hard_limit('used_so_far', 'hard_limit') }} as quantity
    from price_days

),

price_day_costs as (

    select
        invoice_id,
        usage_date,
        {{ usage_billing.per_unit_cost('quantity', 'price_unit_amount', 'package_size', 'package_rounding') }} as cost
    from price_days_capped
    where billing_scheme = 'per_unit'

    union all

    select
        price_days_capped.invoice_id,
        price_days_capped.usage_date,
        {{ usage_billing.tier_cost(
            usage_billing.tier_quantity('price_days_capped', 'tier_bounds'),
            'tier_bounds.unit_amount', 'tier_bounds.flat_amount') }} as cost
    from price_days_capped
    inner join tier_bounds
        on {{ usage_billing.tier_applies('price_days_capped', 'tier_bounds') }}

),

daily_spend as (

    select invoice_id, usage_date, sum(cost) as spend
    from price_day_costs
    group by invoice_id, usage_date

),

invoice_usage_amounts as (

    select invoice_id, sum(amount) as usage_amount
    from priced_lines
    where line_type = 'usage'
    group by invoice_id

),

spend_alerts as (

    select
        capped_invoices.account_id,
        capped_invoices.period_start,
        capped_invoices.period_end,
        'spend_cap' as alert_type,
        thresholds.threshold_pct,
        cast(null as {{ dbt.type_string() }}) as price_id,
        cast(null as {{ dbt.type_string() }}) as grant_id,
        capped_invoices.currency,
        capped_invoices.maximum_amount as limit_value,
        invoice_usage_amounts.usage_amount as current_value,
        {{ dbt.dateadd('day', 1, 'min(daily_spend.usage_date)') }} as crossed_at,
        cast(null as {{ usage_billing.type_quantity() }}) as excess_quantity
    from capped_invoices
    cross join thresholds
    inner join invoice_usage_amounts
        on capped_invoices.invoice_id = invoice_usage_amounts.invoice_id
    inner join daily_spend
        on capped_invoices.invoice_id = daily_spend.invoice_id
        and daily_spend.spend >= capped_invoices.maximum_amount * thresholds.threshold_pct / 100
    where invoice_usage_amounts.usage_amount >= capped_invoices.maximum_amount * thresholds.threshold_pct / 100
    {{ usage_billing.group_by(10) }}

),

grant_usage as (

    select
        credit_balances.*,
        credit_balances.grant_amount - credit_balances.closing_balance - coalesce(sum(credit_balances.expired) over (
            partition by credit_balances.grant_id order by credit_balances.period_start
            rows between unbounded preceding and current row
        ), 0) as used_to_date
    from credit_balances

),

credit_alerts as (

    select
        grant_usage.account_id,
        min(grant_usage.period_start) as period_start,
        min(grant_usage.period_end) as period_end,
        'credit_balance' as alert_type,
        thresholds.threshold_pct,
        cast(null as {{ dbt.type_string() }}) as price_id,
        grant_usage.grant_id,
        grant_usage.currency,
        grant_usage.grant_amount as limit_value,
        max(grant_usage.used_to_date) as current_value,
        cast(min(grant_usage.period_end) as {{ dbt.type_timestamp() }}) as crossed_at,
        cast(null as {{ usage_billing.type_quantity() }}) as excess_quantity
    from grant_usage
    cross join thresholds
    where grant_usage.grant_amount > 0
        and grant_usage.used_to_date >= grant_usage.grant_amount * thresholds.threshold_pct / 100
    group by grant_usage.account_id, thresholds.threshold_pct, grant_usage.grant_id, grant_usage.currency,
        grant_usage.grant_amount

),

all_alerts as (

    select * from quantity_alerts
    union all
    select * from spend_alerts
    union all
    select * from credit_alerts

),

final as (

    select
        account_id,
        period_start,
        period_end,
        alert_type,
        cast(threshold_pct as {{ dbt.type_int() }}) as threshold_pct,
        price_id,
        grant_id,
        currency,
        cast(limit_value as {{ usage_billing.type_rate() }}) as limit_value,
        cast(current_value as {{ usage_billing.type_rate() }}) as current_value,
        cast(crossed_at as {{ dbt.type_timestamp() }}) as crossed_at,
        cast(excess_quantity as {{ usage_billing.type_quantity() }}) as excess_quantity
    from all_alerts

)

select * from final
