{#- Every priced line of every invoice, before rounding is applied to the output type:
    base fees per plan segment (P9 proration), per-unit and package prices (P7), graduated (P5)
    and volume (P6) tiers, each over the price's pooled quantity in the segment (P3) capped at
    its hard limit (P8). Rounded half away from zero to the currency's minor units (P12). -#}
with

segments as (

    select * from {{ ref('int_invoice_plan_segments') }}

),

segment_prices as (

    select * from {{ ref('int_invoice_price_quantities') }}

),

tier_bounds as (

    select * from {{ ref('int_price_tier_bounds') }}

),

base_fee_lines as (

    select
        invoice_id, account_id, period_start, period_end, plan_id, plan_valid_from, currency, minor_units,
        'base_fee' as line_type,
        cast(null as {{ dbt.type_string() }}) as meter,
        cast(null as {{ dbt.type_string() }}) as endpoint,
        cast(null as {{ dbt.type_string() }}) as price_id,
        cast(null as {{ dbt.type_int() }}) as tier,
        cast(1 as {{ usage_billing.type_quantity() }}) as quantity,
        cast(base_fee as {{ usage_billing.type_rate() }}) as unit_amount,
        -- P9: prorated by whole days covered / days in the period, e.g. 22/31 × 49.00 = 34.774… → 34.77.
        {{ usage_billing.round_money_div('base_fee * covered_days', 'period_days', 'minor_units') }} as amount,
        plan_name || ' base fee'
        || case when covered_days < period_days
            then ', ' || cast(covered_days as {{ dbt.type_string() }}) || ' of '
                || cast(period_days as {{ dbt.type_string() }}) || ' days ('
                || {{ usage_billing.format_money('base_fee', 'currency', 'minor_units') }} || ' × '
                || cast(covered_days as {{ dbt.type_string() }}) || '/' || cast(period_days as {{ dbt.type_string() }}) || ')'
            else ''
        end as description
    from segments

),

-- What a usage line is about: "api_calls", "api_calls /v1/ai/*", plus a hard-limit note (P8).
described_prices as (

    select
        *,
        meter || coalesce(' ' || nullif(price_endpoint, ''), '') as subject,
        case when excess_quantity > 0
            then ' (hard limit ' || {{ usage_billing.format_units('hard_limit', 'unit_label') }} || ' reached; '
                || {{ usage_billing.format_number('excess_quantity') }} || ' more not billed)'
            else ''
        end as limit_note
    from segment_prices

),

per_unit_lines as (

    select
        invoice_id, account_id, period_start, period_end, plan_id, plan_valid_from, currency, minor_units,
        'usage' as line_type,
        meter,
        price_endpoint as endpoint,
        price_id,
        cast(null as {{ dbt.type_int() }}) as tier,
        quantity,
        price_unit_amount as unit_amount,
        -- P7: packages are ceil (or floor) of quantity / package_size, per period and price,
        -- e.g. 2,350 calls in packages of 100 rounded up → 24 × 0.50 = 12.00.
        {{ usage_billing.round_money(
            usage_billing.per_unit_cost('quantity', 'price_unit_amount', 'package_size', 'package_rounding'),
            'minor_units') }} as amount,
        case when package_size > 1
            then subject || ': ' || {{ usage_billing.format_units('quantity', 'unit_label') }} || ' = '
                || {{ usage_billing.format_number(usage_billing.packages_needed('quantity', 'package_size', 'package_rounding')) }}
                || ' × package of ' || {{ usage_billing.format_number('package_size') }} || ' at '
                || {{ usage_billing.format_money('price_unit_amount', 'currency', 'minor_units') }}
            else subject || ': ' || {{ usage_billing.format_units('quantity', 'unit_label') }} || ' × '
                || {{ usage_billing.format_money('price_unit_amount', 'currency', 'minor_units') }}
        end || limit_note as description
    from described_prices
    where billing_scheme = 'per_unit'

),

tiered_lines as (

    select
        described_prices.invoice_id, described_prices.account_id, described_prices.period_start,
        described_prices.period_end, described_prices.plan_id, described_prices.plan_valid_from,
        described_prices.currency, described_prices.minor_units,
        'usage' as line_type,
        described_prices.meter,
        described_prices.price_endpoint as endpoint,
        described_prices.price_id,
        tier_bounds.tier,
        described_prices.tiers_mode,
        described_prices.subject,
        described_prices.limit_note,
        described_prices.unit_label,
        -- P6 volume: the whole quantity is priced in the tier that contains it.
        -- P5 graduated: the units that fall in this tier, e.g. 120,000 over a 50,000 tier 1 → 70,000 in tier 2.
        {{ usage_billing.tier_quantity('described_prices', 'tier_bounds') }} as quantity,
        tier_bounds.unit_amount,
        tier_bounds.flat_amount,
        tier_bounds.lower_bound,
        tier_bounds.up_to
    from described_prices
    inner join tier_bounds
        on {{ usage_billing.tier_applies('described_prices', 'tier_bounds') }}

),

tiered_lines_priced as (

    select
        invoice_id, account_id, period_start, period_end, plan_id, plan_valid_from, currency, minor_units,
        line_type, meter, endpoint, price_id, tier, quantity, unit_amount,
        {{ usage_billing.round_money(usage_billing.tier_cost('quantity', 'unit_amount', 'flat_amount'), 'minor_units') }} as amount,
        subject || ' tier ' || cast(tier as {{ dbt.type_string() }}) || ': '
        || case
            -- Volume: "all 12,345 calls (tier 10,001–100,000)"; graduated: the units this tier took,
            -- "50,001–120,000" for 70,000 calls above a 50,000 tier 1.
            when tiers_mode = 'volume'
                then 'all ' || {{ usage_billing.format_units('quantity', 'unit_label') }}
                    || ' (tier above ' || {{ usage_billing.format_number('lower_bound') }}
                    || coalesce(', up to ' || {{ usage_billing.format_number('up_to') }}, '') || ')'
            when quantity = 0 then {{ usage_billing.format_units('quantity', 'unit_label') }}
            when quantity <> {{ usage_billing.trunc_number('quantity') }} or lower_bound <> {{ usage_billing.trunc_number('lower_bound') }}
                then 'over ' || {{ usage_billing.format_number('lower_bound') }} || ' up to '
                    || {{ usage_billing.format_number('lower_bound + quantity') }}
                    || ' (' || {{ usage_billing.format_units('quantity', 'unit_label') }} || ')'
            else {{ usage_billing.format_number('lower_bound + 1') }} || '–'
                || {{ usage_billing.format_number('lower_bound + quantity') }}
                || ' (' || {{ usage_billing.format_units('quantity', 'unit_label') }} || ')'
        end
        || case when unit_amount = 0 and flat_amount = 0
            then ' included'
            else ' × ' || {{ usage_billing.format_money('unit_amount', 'currency', 'minor_units') }}
        end
        || case when flat_amount <> 0
            then ' + ' || {{ usage_billing.format_money('flat_amount', 'currency', 'minor_units') }} || ' flat'
            else ''
        end
        || limit_note as description
    from tiered_lines

),

all_lines as (

    select * from base_fee_lines
    union all
    select * from per_unit_lines
    union all
    select * from tiered_lines_priced

),

final as (

    select
        {{- usage_billing.invoice_line_columns({
            'invoice_line_id': usage_billing.invoice_line_id(['invoice_id', 'line_type', 'plan_valid_from', 'price_id', 'tier']),
            'quantity': 'cast(quantity as ' ~ usage_billing.type_quantity() ~ ')',
            'unit_amount': 'cast(unit_amount as ' ~ usage_billing.type_rate() ~ ')',
        }) }}
    from all_lines
    -- P12: a line whose quantity and amount are both 0 is left out.
    where not (quantity = 0 and amount = 0)

)

select * from final
