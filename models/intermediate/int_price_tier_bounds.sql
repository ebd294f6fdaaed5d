{%- do ref('int_catalog_errors') -%}  {#- never price on a broken catalog -#}
{#- Each tier of a tiered price with the range of quantities it covers (P5/P6): above lower_bound (the
    previous tier's up_to, 0 for tier 1) up to up_to inclusive (blank = open), e.g. tier 1 up to 50,000,
    tier 2 open → tier 2 covers quantities above 50,000. flat_amount defaults to 0 (CONTRACT.md §2).
    The invoice lines and usage_alerts' day-by-day spend read the tiers from here (macros/pricing.sql). -#}
with

price_tiers as (

    select * from {{ ref('price_tiers') }}

),

tier_bounds as (

    select
        price_tiers.price_id,
        price_tiers.tier,
        coalesce(
            lag(price_tiers.up_to) over (partition by price_tiers.price_id order by price_tiers.tier),
            0
        ) as lower_bound,
        price_tiers.up_to,
        price_tiers.unit_amount,
        coalesce(price_tiers.flat_amount, 0) as flat_amount
    from price_tiers

)

select * from tier_bounds
