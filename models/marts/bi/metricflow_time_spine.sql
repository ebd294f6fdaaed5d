{#- MetricFlow's time spine (dbt 1.11 `time_spine` config): one row per UTC day. The range covers
    the billing history the warehouse is meant for; dbt.date_spine is portable (no generate_series). -#}
with

days as (

    {{ dbt.date_spine('day', "cast('2024-01-01' as date)", "cast('2031-01-01' as date)") }}

),

final as (

    select cast(date_day as date) as date_day
    from days

)

select * from final
