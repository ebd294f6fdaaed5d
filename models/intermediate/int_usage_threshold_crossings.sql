{#- When each quantity threshold of int_usage_thresholds_reached was crossed: the event, among that
    day's kept events of the price's usage, whose running total reached it (usage_alerts' quantity alerts).
    The one model of the alerts that reads kept events, so it is kept by account period (macros/rollups.sql):
    a run finds the crossings of the periods whose usage changed or that have a threshold reached with no
    crossing held yet (crossing_periods_to_redo); a run with neither reads no event. usage_alerts shows only
    the crossings of thresholds reached now (an earlier explicit as_of may leave others here). -#}
{{ usage_billing.rollup_config('replace_crossing_periods') }}
with

matched_usage as (

    select * from {{ ref('int_usage_prices_matched') }}
    where price_id is not null and {{ usage_billing.in_crossing_periods_to_redo() }}

),

usage_events as (

    select * from {{ ref('int_usage_events_deduplicated') }}

),

meters as (

    select * from {{ ref('meters') }}

),

thresholds_reached as (

    select * from {{ ref('int_usage_thresholds_reached') }}
    where {{ usage_billing.in_crossing_periods_to_redo() }}

),

-- The day each distinct value of a unique_count meter is first seen in the segment.
first_seen_values as (

    select * from {{ ref('int_usage_values_first_seen') }}
    where {{ usage_billing.in_crossing_periods_to_redo() }}

),

-- The daily usage rows (meter, endpoint, status) that feed each crossing day's price.
crossing_usage_keys as (

    select distinct
        thresholds_reached.account_id,
        thresholds_reached.period_start,
        thresholds_reached.plan_valid_from,
        thresholds_reached.price_id,
        thresholds_reached.crossing_date,
        matched_usage.meter,
        matched_usage.endpoint,
        matched_usage.status_code
    from thresholds_reached
    inner join matched_usage
        on thresholds_reached.account_id = matched_usage.account_id
        and thresholds_reached.period_start = matched_usage.period_start
        and thresholds_reached.plan_valid_from = matched_usage.plan_valid_from
        and thresholds_reached.price_id = matched_usage.price_id
        and thresholds_reached.crossing_date = matched_usage.usage_date

),

crossing_day_events as (

    select
        crossing_usage_keys.account_id,
        crossing_usage_keys.period_start,
        crossing_usage_keys.plan_valid_from,
        crossing_usage_keys.price_id,
        crossing_usage_keys.crossing_date,
        usage_events.event_id,
        usage_events.event_at,
        usage_events.units,
        {{ usage_billing.unique_value('usage_events', 'meters') }} as unique_value
    from crossing_usage_keys
    inner join usage_events
        on crossing_usage_keys.account_id = usage_events.account_id
        and crossing_usage_keys.meter = usage_events.meter
        and (crossing_usage_keys.endpoint = usage_events.endpoint
            or (crossing_usage_keys.endpoint is null and usage_events.endpoint is null))
        and crossing_usage_keys.status_code = usage_events.status_code
        and crossing_usage_keys.crossing_date = cast(usage_events.event_at as date)
    inner join meters
        on usage_events.meter = meters.meter

),

crossing_day_running as (

    select
        crossing_day_events.*,
        -- A unique_count value adds 1 at its first event in the segment (values seen on earlier days add 0).
        case
            when crossing_day_events.unique_value is null then 0
            when first_seen_values.first_date < crossing_day_events.crossing_date then 0
            when row_number() over (
                partition by crossing_day_events.account_id, crossing_day_events.period_start,
                    crossing_day_events.plan_valid_from, crossing_day_events.price_id, crossing_day_events.unique_value
                order by crossing_day_events.event_at, crossing_day_events.event_id
            ) = 1 then 1
            else 0
        end as is_new_value
    from crossing_day_events
    left join first_seen_values
        on crossing_day_events.account_id = first_seen_values.account_id
        and crossing_day_events.period_start = first_seen_values.period_start
        and crossing_day_events.plan_valid_from = first_seen_values.plan_valid_from
        and crossing_day_events.price_id = first_seen_values.price_id
        and crossing_day_events.unique_value = first_seen_values.unique_value

),

crossing_day_running_totals as (

    select
        crossing_day_running.*,
        sum(units) over event_window as running_sum,
        count(*) over event_window as running_count,
        max(units) over event_window as running_max,
        sum(is_new_value) over event_window as running_new
    from crossing_day_running
    -- Per crossing day: when two thresholds are crossed on different days, each day's running total
    -- starts from that day's previous_quantity, not from the events of the other day.
    window event_window as (
        partition by account_id, period_start, plan_valid_from, price_id, crossing_date
        order by event_at, event_id
        rows between unbounded preceding and current row
    )

),

quantity_alerts as (

    select
        thresholds_reached.account_id,
        thresholds_reached.period_start,
        thresholds_reached.period_end,
        thresholds_reached.alert_type,
        thresholds_reached.threshold_pct,
        thresholds_reached.price_id,
        cast(null as {{ dbt.type_string() }}) as grant_id,
        thresholds_reached.currency,
        thresholds_reached.limit_value,
        thresholds_reached.used_quantity as current_value,
        min(crossing_day_running_totals.event_at) as crossed_at,
        case when thresholds_reached.threshold_pct = 100 then thresholds_reached.excess_quantity end
            as excess_quantity
    from thresholds_reached
    inner join crossing_day_running_totals
        on thresholds_reached.account_id = crossing_day_running_totals.account_id
        and thresholds_reached.period_start = crossing_day_running_totals.period_start
        and thresholds_reached.plan_valid_from = crossing_day_running_totals.plan_valid_from
        and thresholds_reached.price_id = crossing_day_running_totals.price_id
        and thresholds_reached.crossing_date = crossing_day_running_totals.crossing_date
        and case thresholds_reached.aggregation
            when 'count' then thresholds_reached.previous_quantity + crossing_day_running_totals.running_count
            when 'max' then case when crossing_day_running_totals.running_max > thresholds_reached.previous_quantity
                then crossing_day_running_totals.running_max else thresholds_reached.previous_quantity end
            when 'unique_count' then thresholds_reached.previous_quantity + crossing_day_running_totals.running_new
            else thresholds_reached.previous_quantity + crossing_day_running_totals.running_sum
        end >= thresholds_reached.threshold_value
    group by
        thresholds_reached.account_id, thresholds_reached.period_start, thresholds_reached.period_end,
        thresholds_reached.alert_type, thresholds_reached.threshold_pct, thresholds_reached.price_id,
        thresholds_reached.currency, thresholds_reached.limit_value, thresholds_reached.used_quantity,
        thresholds_reached.excess_quantity

)

select * from quantity_alerts
