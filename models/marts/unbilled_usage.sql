{#- E5: valid, billable usage of non-test accounts that no invoice carries, with the reason.
    Kept by account period (macros/rollups.sql): a run recomputes the periods whose usage changed. -#}
{{ usage_billing.rollup_config('replace_changed_periods') }}
with

matched_usage as (

    select * from {{ ref('int_usage_prices_matched') }}
    where unbilled_reason is not null and {{ usage_billing.in_changed_periods('int_usage_prices_matched') }}

),

final as (

    select
        account_id,
        period_start,
        meter,
        endpoint,
        unbilled_reason as reason,
        sum(units_sum) as units,
        cast(sum(event_count) as {{ dbt.type_bigint() }}) as event_count
    from matched_usage
    group by account_id, period_start, meter, endpoint, unbilled_reason

)

select * from final
