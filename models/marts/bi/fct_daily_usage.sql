{#- BI: every kept event rolled up per account, UTC day, meter, endpoint and status class, billable
    (E4) or not, with the account's billing period. Test and unknown accounts are included and
    flagged, so a dashboard can show all traffic and filter what is billed. units is the sum of
    units (a unique_count meter's distinct values do not add across days: use event_count or
    fct_account_period_usage for those).
    Kept by account period (macros/rollups.sql): a run recomputes the periods whose usage changed. -#}
{{ usage_billing.rollup_config('replace_changed_periods') }}
{%- set daily_usage_columns = [
    'account_id', 'usage_date', 'meter', 'endpoint', 'status_class', 'is_billable',
    'period_start', 'period_end', 'is_known_account', 'is_test_account', 'is_known_meter',
] %}
with

daily_usage as (

    select * from {{ ref('int_usage_daily') }}
    where {{ usage_billing.in_changed_periods('int_usage_daily') }}

),

rolled_up as (

    select
        {%- for column in daily_usage_columns %}
        {{ column }},
        {%- endfor %}
        sum(units_sum) as units,
        sum(event_count) as event_count
    from daily_usage
    {{ usage_billing.group_by(daily_usage_columns | length) }}

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            "account_id", "'|'", "cast(usage_date as " ~ dbt.type_string() ~ ")", "'|'", "meter", "'|'",
            "coalesce(endpoint, '')", "'|'", "status_class", "'|'", "cast(is_billable as " ~ dbt.type_string() ~ ")"
        ])) }} as daily_usage_id,
        {%- for column in daily_usage_columns %}
        {{ column }},
        {%- endfor %}
        cast(units as {{ usage_billing.type_quantity() }}) as units,
        cast(event_count as {{ dbt.type_bigint() }}) as event_count
    from rolled_up

)

select * from final
