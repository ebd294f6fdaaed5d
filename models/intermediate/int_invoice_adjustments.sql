{#- P14: late usage for closed periods. A closed period is priced again with every event now known; per
    (price, tier) the difference from what its final invoice billed, less adjustments already made final, is
    billed as an `adjustment` line in the account's next open invoice, naming the original period.
    Example: January closed with api_calls tier 2 at 70,000 calls = 70.00; 1,000 late January calls make
    it 71,000 = 71.00, so February gets an adjustment of +1,000 calls, +1.00. With volume tiers one more
    unit can re-price every unit, so an adjustment can be negative (100,000 → 100,001 units: 90.00 → 80.00
    gives −10.00). Until the account has a next open invoice, the difference waits. -#}
with

priced_lines as (

    select * from {{ ref('int_invoice_lines_priced') }}
    where line_type = 'usage'

),

final_lines as (

    select * from {{ ref('stg_ledger__final_invoice_lines') }}

),

final_invoices as (

    select * from {{ ref('stg_ledger__final_invoices') }}

),

segments as (

    select * from {{ ref('int_invoice_plan_segments') }}

),

prices as (

    select * from {{ ref('prices') }}

),

open_invoices as (

    select distinct segments.invoice_id, segments.account_id, segments.period_start, segments.period_end
    from segments
    where segments.invoice_id not in (select invoice_id from final_invoices)

),

corrected as (

    select
        priced_lines.account_id,
        priced_lines.period_start,
        priced_lines.price_id,
        priced_lines.tier,
        max(priced_lines.meter) as meter,
        max(priced_lines.endpoint) as endpoint,
        max(priced_lines.currency) as currency,
        sum(priced_lines.quantity) as quantity,
        sum(priced_lines.amount) as amount
    from priced_lines
    inner join final_invoices
        on priced_lines.invoice_id = final_invoices.invoice_id
    group by priced_lines.account_id, priced_lines.period_start, priced_lines.price_id, priced_lines.tier

),

billed as (

    select
        account_id,
        coalesce(adjusted_period_start, period_start) as period_start,
        price_id,
        tier,
        max(meter) as meter,
        max(endpoint) as endpoint,
        max(currency) as currency,
        sum(quantity) as quantity,
        sum(amount) as amount
    from final_lines
    where line_type = 'usage' or (line_type = 'adjustment' and adjusted_period_start is not null)
    group by account_id, coalesce(adjusted_period_start, period_start), price_id, tier

),

differences as (

    select
        coalesce(corrected.account_id, billed.account_id) as account_id,
        coalesce(corrected.period_start, billed.period_start) as original_period_start,
        coalesce(corrected.price_id, billed.price_id) as price_id,
        coalesce(corrected.tier, billed.tier) as tier,
        coalesce(corrected.meter, billed.meter) as meter,
        coalesce(corrected.endpoint, billed.endpoint) as endpoint,
        coalesce(corrected.currency, billed.currency) as currency,
        coalesce(corrected.quantity, 0) - coalesce(billed.quantity, 0) as quantity,
        coalesce(corrected.amount, 0) - coalesce(billed.amount, 0) as amount
    from corrected
    full outer join billed
        on corrected.account_id = billed.account_id
        and corrected.period_start = billed.period_start
        and corrected.price_id = billed.price_id
        and (corrected.tier = billed.tier or (corrected.tier is null and billed.tier is null))

),

targets as (

    select
        differences.*,
        open_invoices.invoice_id,
        open_invoices.period_start,
        open_invoices.period_end,
        row_number() over (
            partition by differences.account_id, differences.original_period_start, differences.price_id, differences.tier
            order by open_invoices.period_start
        ) as target_rank
    from differences
    inner join open_invoices
        on differences.account_id = open_invoices.account_id
        and open_invoices.period_start > differences.original_period_start
    where differences.quantity <> 0 or differences.amount <> 0

),

final as (

    select
        {{ usage_billing.invoice_line_id(['targets.invoice_id', "'adjustment'", 'targets.original_period_start', 'targets.price_id', 'targets.tier']) }}
            as invoice_line_id,
        targets.invoice_id,
        targets.account_id,
        targets.period_start,
        targets.period_end,
        prices.plan_id,
        cast(null as date) as plan_valid_from,
        'adjustment' as line_type,
        targets.meter,
        targets.endpoint,
        targets.price_id,
        targets.tier,
        'Adjustment for late usage in the period from ' || cast(targets.original_period_start as {{ dbt.type_string() }})
        || ': ' || targets.meter || coalesce(' ' || nullif(targets.endpoint, ''), '')
        || coalesce(' tier ' || cast(targets.tier as {{ dbt.type_string() }}), '')
        || ' ' || case when targets.quantity >= 0 then '+' else '' end || {{ usage_billing.format_number('targets.quantity') }}
        || ', ' || case when targets.amount >= 0 then '+' else '' end
        || {{ usage_billing.format_money('targets.amount', 'targets.currency', 'currencies.minor_units') }} as description,
        cast(targets.quantity as {{ usage_billing.type_quantity() }}) as quantity,
        cast(null as {{ usage_billing.type_rate() }}) as unit_amount,
        cast(targets.amount as {{ usage_billing.type_money() }}) as amount,
        targets.currency,
        currencies.minor_units,
        targets.original_period_start as adjusted_period_start
    from targets
    inner join prices
        on targets.price_id = prices.price_id
    inner join {{ ref('currencies') }} as currencies
        on targets.currency = currencies.currency
    where targets.target_rank = 1

)

select * from final
