{#- Each matched price's P3 quantity in its plan segment at the end of every usage day, and before it
    (previous_quantity): sum, count or max of the segment's billable usage so far, or the number of distinct
    values of a unique_count meter first seen so far. usage_alerts finds from it the day a quantity
    threshold was reached (int_usage_thresholds_reached) and prices spend day by day.
    Kept by account period (macros/rollups.sql): a run recomputes the periods whose usage changed. -#}
{{ usage_billing.rollup_config('replace_changed_periods') }}
with

matched_usage as (

    select * from {{ ref('int_usage_prices_matched') }}
    where price_id is not null and {{ usage_billing.in_changed_periods('int_usage_prices_matched') }}

),

meters as (

    select * from {{ ref('meters') }}

),

-- The day each distinct value of a unique_count meter is first seen in the segment.
first_seen_values as (

    select * from {{ ref('int_usage_values_first_seen') }}
    where {{ usage_billing.in_changed_periods() }}

),

daily_increments as (

    select
        matched_usage.account_id,
        matched_usage.period_start,
        matched_usage.plan_valid_from,
        matched_usage.price_id,
        matched_usage.usage_date,
        max(meters.aggregation) as aggregation,
        sum(matched_usage.units_sum) as day_sum,
        sum(matched_usage.event_count) as day_count,
        max(matched_usage.units_max) as day_max
    from matched_usage
    inner join meters
        on matched_usage.meter = meters.meter
    group by
        matched_usage.account_id, matched_usage.period_start, matched_usage.plan_valid_from,
        matched_usage.price_id, matched_usage.usage_date

),

daily_new_values as (

    select account_id, period_start, plan_valid_from, price_id, first_date as usage_date, count(*) as day_new
    from first_seen_values
    group by account_id, period_start, plan_valid_from, price_id, first_date

),

-- P3 quantity of each price in its segment at the end of each day.
daily_cumulative as (

    select
        daily_increments.*,
        case daily_increments.aggregation
            when 'count' then cast(sum(daily_increments.day_count) over day_window as {{ usage_billing.type_quantity() }})
            when 'max' then max(daily_increments.day_max) over day_window
            when 'unique_count'
                then cast(sum(coalesce(daily_new_values.day_new, 0)) over day_window as {{ usage_billing.type_quantity() }})
            else sum(daily_increments.day_sum) over day_window
        end as cumulative_quantity
    from daily_increments
    left join daily_new_values
        on daily_increments.account_id = daily_new_values.account_id
        and daily_increments.period_start = daily_new_values.period_start
        and daily_increments.plan_valid_from = daily_new_values.plan_valid_from
        and daily_increments.price_id = daily_new_values.price_id
        and daily_increments.usage_date = daily_new_values.usage_date
    window day_window as (
        partition by daily_increments.account_id, daily_increments.period_start,
            daily_increments.plan_valid_from, daily_increments.price_id
        order by daily_increments.usage_date
        rows between unbounded preceding and current row
    )

),

daily_with_previous as (

    select
        daily_cumulative.*,
        coalesce(lag(cumulative_quantity) over (
            partition by account_id, period_start, plan_valid_from, price_id order by usage_date
        ), 0) as previous_quantity
    from daily_cumulative

)

select * from daily_with_previous
