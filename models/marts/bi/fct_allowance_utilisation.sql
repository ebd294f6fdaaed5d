{#- BI / customer success: per invoice, how much of each price's included allowance (a graduated
    tier 1 that costs nothing, e.g. pro_calls: 1,000,000 calls included) and of its hard limit (P8)
    the account used. used_quantity is what the invoice's usage lines of the price bill plus the
    units past the hard limit that were not billed (usage_alerts), e.g. starter_calls with 2,100
    calls: lines 1,000 + 1,000, excess 100 → used 2,100, 210 % of the allowance, 105 % of the limit.
    Only prices with an allowance or a hard limit, of the plans on the invoice, are listed. -#}
with

invoice_lines as (

    select * from {{ ref('fct_invoice_lines') }}

),

usage_alerts as (

    select * from {{ ref('usage_alerts') }}

),

prices as (

    select * from {{ ref('prices') }}

),

price_tiers as (

    select * from {{ ref('price_tiers') }}

),

invoice_plans as (

    select distinct invoice_id, account_id, period_start, period_end, currency, plan_id
    from invoice_lines
    where line_type = 'base_fee'

),

allowances as (

    select
        prices.price_id,
        prices.plan_id,
        prices.meter,
        prices.endpoint,
        prices.hard_limit,
        price_tiers.up_to as included_quantity
    from prices
    left join price_tiers
        on prices.price_id = price_tiers.price_id
        and price_tiers.tier = 1
        and price_tiers.unit_amount = 0
        and coalesce(price_tiers.flat_amount, 0) = 0
        and price_tiers.up_to is not null
        and coalesce(prices.tiers_mode, 'graduated') = 'graduated'
        and prices.billing_scheme = 'tiered'
    where prices.hard_limit is not null or price_tiers.up_to is not null

),

billed_quantities as (

    select
        invoice_id,
        price_id,
        sum(quantity) as billed_quantity
    from invoice_lines
    where line_type = 'usage'
    group by invoice_id, price_id

),

excess_quantities as (

    select
        account_id,
        period_start,
        price_id,
        max(excess_quantity) as excess_quantity
    from usage_alerts
    where alert_type = 'hard_limit' and threshold_pct = 100
    group by account_id, period_start, price_id

),

measured as (

    select
        invoice_plans.invoice_id,
        invoice_plans.account_id,
        invoice_plans.period_start,
        invoice_plans.period_end,
        invoice_plans.plan_id,
        allowances.price_id,
        allowances.meter,
        allowances.endpoint,
        allowances.included_quantity,
        allowances.hard_limit,
        coalesce(billed_quantities.billed_quantity, 0) as billed_quantity,
        coalesce(excess_quantities.excess_quantity, 0) as excess_quantity
    from invoice_plans
    inner join allowances
        on invoice_plans.plan_id = allowances.plan_id
    left join billed_quantities
        on invoice_plans.invoice_id = billed_quantities.invoice_id
        and allowances.price_id = billed_quantities.price_id
    left join excess_quantities
        on invoice_plans.account_id = excess_quantities.account_id
        and invoice_plans.period_start = excess_quantities.period_start
        and allowances.price_id = excess_quantities.price_id

),

final as (

    select
        invoice_id,
        account_id,
        period_start,
        period_end,
        plan_id,
        price_id,
        meter,
        endpoint,
        cast(included_quantity as {{ usage_billing.type_quantity() }}) as included_quantity,
        cast(hard_limit as {{ usage_billing.type_quantity() }}) as hard_limit,
        cast(billed_quantity + excess_quantity as {{ usage_billing.type_quantity() }}) as used_quantity,
        cast(excess_quantity as {{ usage_billing.type_quantity() }}) as excess_quantity,
        cast(case
            when included_quantity is null then null
            when billed_quantity + excess_quantity > included_quantity then 0
            else included_quantity - billed_quantity - excess_quantity
        end as {{ usage_billing.type_quantity() }}) as remaining_allowance,
        -- Percentages for charts only, rounded to 0.01 %; quantities above stay exact.
        cast(round(case when included_quantity > 0
            then (billed_quantity + excess_quantity) * 100 / included_quantity
        end, 2) as decimal(18, 2)) as allowance_used_pct,
        cast(round(case when hard_limit > 0
            then (billed_quantity + excess_quantity) * 100 / hard_limit
        end, 2) as decimal(18, 2)) as hard_limit_used_pct
    from measured

)

select * from final
