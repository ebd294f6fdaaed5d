{#- Billable usage per account, period (from the account's anchor day, P1), meter and endpoint.
    Includes test and unknown accounts (anchor day 1 for unknown ones, §3a); units is the meter's
    aggregation (sum, count, max or distinct values; unknown meters sum).
    Kept by account period (macros/rollups.sql): a run recomputes the periods whose usage changed. -#}
{{ usage_billing.rollup_config('replace_changed_periods') }}
with

daily_usage as (

    select * from {{ ref('int_usage_daily') }}
    where is_billable and {{ usage_billing.in_changed_periods('int_usage_daily') }}

),

meters as (

    select * from {{ ref('meters') }}

),

final as (

    select
        daily_usage.account_id,
        daily_usage.period_start,
        daily_usage.meter,
        daily_usage.endpoint,
        max(daily_usage.period_end) as period_end,
        case max(meters.aggregation)
            when 'count' then cast(sum(daily_usage.event_count) as {{ usage_billing.type_quantity() }})
            when 'max' then max(daily_usage.units_max)
            when 'unique_count'
                then cast(count(distinct daily_usage.unique_value) as {{ usage_billing.type_quantity() }})
            else sum(daily_usage.units_sum)
        end as units,
        cast(sum(daily_usage.event_count) as {{ dbt.type_bigint() }}) as event_count
    from daily_usage
    left join meters
        on daily_usage.meter = meters.meter
    group by
        daily_usage.account_id,
        daily_usage.period_start,
        daily_usage.meter,
        daily_usage.endpoint

)

select * from final
