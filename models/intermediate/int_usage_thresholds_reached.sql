{#- The day each quantity threshold (50, 80 and 100 % of a price's free first tier or of its hard limit,
    P8) was reached, per account, period, plan segment and price: the first usage day whose cumulative
    quantity is at least the threshold, with the quantity before that day. usage_alerts then finds the
    event that reached it among that day's events only. This is its own table so that the join of those
    few days to the kept events is planned with their real (small) number of rows: planned inside
    usage_alerts, DuckDB estimated billions and built its hash table on all kept events instead. -#}
with

watched_limits as (

    select * from {{ ref('int_invoice_price_limits') }}

),

prices_accumulated as (

    select * from {{ ref('int_usage_prices_accumulated') }}

),

thresholds as (

    {{ usage_billing.alert_thresholds() }}

),

reached_quantities as (

    select
        watched_limits.*,
        thresholds.threshold_pct,
        cast(watched_limits.limit_value * thresholds.threshold_pct / 100 as {{ usage_billing.type_quantity() }})
            as threshold_value
    from watched_limits
    cross join thresholds
    where watched_limits.used_quantity >= watched_limits.limit_value * thresholds.threshold_pct / 100

),

crossing_days as (

    select
        reached_quantities.invoice_id,
        reached_quantities.account_id,
        reached_quantities.period_start,
        reached_quantities.period_end,
        reached_quantities.plan_valid_from,
        reached_quantities.price_id,
        reached_quantities.meter,
        reached_quantities.currency,
        reached_quantities.alert_type,
        reached_quantities.threshold_pct,
        reached_quantities.limit_value,
        reached_quantities.threshold_value,
        reached_quantities.used_quantity,
        reached_quantities.excess_quantity,
        min(prices_accumulated.usage_date) as crossing_date
    from reached_quantities
    inner join prices_accumulated
        on reached_quantities.account_id = prices_accumulated.account_id
        and reached_quantities.period_start = prices_accumulated.period_start
        and reached_quantities.plan_valid_from = prices_accumulated.plan_valid_from
        and reached_quantities.price_id = prices_accumulated.price_id
        and prices_accumulated.cumulative_quantity >= reached_quantities.threshold_value
    {{ usage_billing.group_by(14) }}

),

crossing_day_starts as (

    select
        crossing_days.*,
        prices_accumulated.previous_quantity,
        prices_accumulated.aggregation
    from crossing_days
    inner join prices_accumulated
        on crossing_days.account_id = prices_accumulated.account_id
        and crossing_days.period_start = prices_accumulated.period_start
        and crossing_days.plan_valid_from = prices_accumulated.plan_valid_from
        and crossing_days.price_id = prices_accumulated.price_id
        and crossing_days.crossing_date = prices_accumulated.usage_date

)

select * from crossing_day_starts
