{#- MetricFlow's time spine (dbt 1.11 `time_spine` config): one row per UTC day. The range covers
    the billing history the warehouse is meant for; dbt.date_spine is portable (no generate_series).
    Written once: later runs add nothing (a --full-refresh writes it again). -#}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail') }}
with

days as (

    {{ dbt.date_spine('day', "cast('2024-01-01' as date)", "cast('2031-01-01' as date)") }}

),

final as (

    select cast(date_day as date) as date_day
    from days
    {% if is_incremental() -%}
    where false
    {%- endif %}

)

select * from final
