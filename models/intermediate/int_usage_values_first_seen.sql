{#- The day each distinct value of a unique_count meter is first seen in its price's plan segment (P3).
    Ephemeral: int_usage_prices_accumulated counts the values new on each day from it, and usage_alerts
    tells from it whether a value on a crossing day is new; both read it as a CTE, so it adds no table. -#}
{{ config(materialized='ephemeral') }}

with

matched_usage as (

    select * from {{ ref('int_usage_prices_matched') }}
    where price_id is not null

),

first_seen_values as (

    select
        account_id, period_start, plan_valid_from, price_id, unique_value,
        min(usage_date) as first_date
    from matched_usage
    where unique_value is not null
    group by account_id, period_start, plan_valid_from, price_id, unique_value

)

select * from first_seen_values
