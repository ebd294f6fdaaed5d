{#- Usage against each quantity limit of the account's current period (int_account_current_periods): the
    included allowance (free first tier) and the hard limit (P8) of every price of the plan in force, e.g.
    starter_calls used 2,000 of a hard limit of 2,000 → reached. -#}
with

current_periods as (

    select * from {{ ref('int_account_current_periods') }}

),

price_limits as (

    select * from {{ ref('int_invoice_price_limits') }}

),

final as (

    select
        current_periods.account_id,
        current_periods.period_start,
        current_periods.period_end,
        price_limits.price_id,
        price_limits.meter,
        price_limits.price_endpoint as endpoint,
        price_limits.alert_type as limit_type,
        price_limits.limit_value,
        price_limits.used_quantity,
        price_limits.used_quantity >= price_limits.limit_value as is_reached
    from current_periods
    inner join price_limits
        on current_periods.invoice_id = price_limits.invoice_id
        and current_periods.plan_valid_from = price_limits.plan_valid_from

)

select * from final
