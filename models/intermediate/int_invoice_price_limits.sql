{#- The quantity limits each price in force watches, per invoice plan segment: its included allowance (a free
    first tier, unit_amount 0 and no flat fee, e.g. the first 50,000 calls) and its hard limit (P8), with
    the quantity used so far. usage_alerts (through int_usage_thresholds_reached) and the gateway's
    entitlements read them from here. -#}
with

price_quantities as (

    select * from {{ ref('int_invoice_price_quantities') }}

),

price_tiers as (

    select * from {{ ref('price_tiers') }}

),

watched_limits as (

    select
        price_quantities.*,
        'included_allowance' as alert_type,
        price_tiers.up_to as limit_value
    from price_quantities
    inner join price_tiers
        on price_quantities.price_id = price_tiers.price_id
        and price_tiers.tier = 1
    where price_quantities.billing_scheme = 'tiered'
        and price_tiers.up_to > 0
        and price_tiers.unit_amount = 0
        and coalesce(price_tiers.flat_amount, 0) = 0

    union all

    select
        price_quantities.*,
        'hard_limit' as alert_type,
        price_quantities.hard_limit as limit_value
    from price_quantities
    where price_quantities.hard_limit > 0

)

select * from watched_limits
