{%- do ref('int_catalog_errors') -%}  {#- never price on a broken catalog -#}
{{ usage_billing.rollup_config('replace_changed_periods') }}
{#- Billable usage of non-test accounts matched to the price that bills it (P4), or to the E5
    reason it is not billed: unknown_account, unknown_meter, outside_plan, no_price, in that order.
    P4: in the plan in force on the usage day, an exact endpoint beats the longest prefix pattern
    ending in '*', which beats a blank endpoint (a lone '*' counts as blank).
    Kept by account period (macros/rollups.sql): a run recomputes the periods whose usage changed. -#}
with

daily_usage as (

    select * from {{ ref('int_usage_daily') }}
    where is_billable and not is_test_account and {{ usage_billing.in_changed_periods('int_usage_daily') }}

),

account_plans as (

    select * from {{ ref('account_plans') }}

),

prices as (

    select * from {{ ref('prices') }}

),

usage_with_plan as (

    select
        daily_usage.*,
        account_plans.plan_id,
        account_plans.valid_from as plan_valid_from
    from daily_usage
    left join account_plans
        on daily_usage.account_id = account_plans.account_id
        and account_plans.valid_from <= daily_usage.usage_date
        and (account_plans.valid_to is null or account_plans.valid_to > daily_usage.usage_date)

),

price_patterns as (

    select
        prices.*,
        case
            when prices.endpoint is null or prices.endpoint = '' or prices.endpoint = '*' then 'blank'
            when {{ dbt.right('prices.endpoint', '1') }} = '*' then 'prefix'
            else 'exact'
        end as endpoint_match_kind,
        case
            when {{ dbt.right('prices.endpoint', '1') }} = '*'
                then substring(prices.endpoint, 1, {{ dbt.length('prices.endpoint') }} - 1)
        end as endpoint_prefix
    from prices

),

-- The match depends only on (plan, meter, endpoint): rank prices for each distinct key, not per day.
usage_keys as (

    select distinct
        plan_id,
        meter,
        endpoint
    from usage_with_plan
    where plan_id is not null

),

candidate_prices as (

    select
        usage_keys.plan_id,
        usage_keys.meter,
        usage_keys.endpoint,
        price_patterns.price_id,
        row_number() over (
            partition by usage_keys.plan_id, usage_keys.meter, usage_keys.endpoint
            order by
                case price_patterns.endpoint_match_kind when 'exact' then 2 when 'prefix' then 1 else 0 end desc,
                {{ dbt.length('coalesce(price_patterns.endpoint_prefix, \'\')') }} desc
        ) as match_rank
    from usage_keys
    inner join price_patterns
        on usage_keys.plan_id = price_patterns.plan_id
        and usage_keys.meter = price_patterns.meter
        and (
            price_patterns.endpoint_match_kind = 'blank'
            or (price_patterns.endpoint_match_kind = 'exact' and usage_keys.endpoint = price_patterns.endpoint)
            or (
                price_patterns.endpoint_match_kind = 'prefix'
                and substring(usage_keys.endpoint, 1, {{ dbt.length('price_patterns.endpoint_prefix') }})
                    = price_patterns.endpoint_prefix
            )
        )

),

best_prices as (

    select * from candidate_prices
    where match_rank = 1

),

final as (

    select
        usage_with_plan.account_id,
        usage_with_plan.meter,
        usage_with_plan.endpoint,
        usage_with_plan.status_code,
        usage_with_plan.usage_date,
        usage_with_plan.unique_value,
        usage_with_plan.period_start,
        usage_with_plan.period_end,
        usage_with_plan.plan_id,
        usage_with_plan.plan_valid_from,
        best_prices.price_id,
        usage_with_plan.units_sum,
        usage_with_plan.units_max,
        usage_with_plan.event_count,
        case
            when not usage_with_plan.is_known_account then 'unknown_account'
            when not usage_with_plan.is_known_meter then 'unknown_meter'
            when usage_with_plan.plan_id is null then 'outside_plan'
            when best_prices.price_id is null then 'no_price'
        end as unbilled_reason
    from usage_with_plan
    left join best_prices
        on usage_with_plan.plan_id = best_prices.plan_id
        and usage_with_plan.meter = best_prices.meter
        and usage_with_plan.endpoint is not distinct from best_prices.endpoint

)

select * from final
