{#- P1: an account's period runs from its anchor day 00:00 UTC to the same day next month
    (exclusive). Anchor days are 1-28, so every month has the day. -#}
{% macro period_start_for(date_expr, anchor_day_expr) -%}
    cast(case
        when extract(day from {{ date_expr }}) >= {{ anchor_day_expr }}
            then {{ dbt.dateadd('day', anchor_day_expr ~ ' - 1', dbt.date_trunc('month', date_expr)) }}
        else {{ dbt.dateadd('day', anchor_day_expr ~ ' - 1', dbt.dateadd('month', '-1', dbt.date_trunc('month', date_expr))) }}
    end as date)
{%- endmacro %}

{% macro add_months(date_expr, months_expr) -%}
    cast({{ dbt.dateadd('month', months_expr, date_expr) }} as date)
{%- endmacro %}

{#- The integers 0..999 without engine-specific generators. -#}
{% macro integers_0_to_999() -%}
    select ones.n + 10 * tens.n + 100 * hundreds.n as n
    from (
        {%- for i in range(10) %}select {{ i }} as n{% if not loop.last %} union all {% endif %}{% endfor -%}
    ) as ones
    cross join (
        {%- for i in range(10) %}select {{ i }} as n{% if not loop.last %} union all {% endif %}{% endfor -%}
    ) as tens
    cross join (
        {%- for i in range(10) %}select {{ i }} as n{% if not loop.last %} union all {% endif %}{% endfor -%}
    ) as hundreds
{%- endmacro %}

{#- P2 as_of: dbt var as_of, else the latest timestamp of any kept valid event (§3a). -#}
{% macro as_of_expression() -%}
    {%- set as_of = var('as_of', '') | string | trim -%}
    {%- if as_of != '' -%}
        {#- A date alone means 00:00 UTC that day, as catalog dates do. -#}
        {%- if as_of | length == 10 -%}{%- set as_of = as_of ~ 'T00:00:00Z' -%}{%- endif -%}
        {{ usage_billing.iso_timestamp_utc(usage_billing.sql_string(as_of)) }}
    {%- else -%}
        (select max(event_at) from {{ ref('int_usage_events_deduplicated') }})
    {%- endif -%}
{%- endmacro %}
