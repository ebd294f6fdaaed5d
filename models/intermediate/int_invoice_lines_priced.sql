{#- Every priced line of every invoice, before rounding is applied to the output type:
    base fees per plan segment (P9 proration), per-unit and package prices (P7), graduated (P5)
    and volume (P6) tiers, each over the price's pooled quantity in the segment (P3) capped at
    its hard limit (P8). Rounded half away from zero to the currency's minor units (P12). -#}
with

segments as (

    select * from {{ ref('int_invoice_plan_segments') }}

),

matched_usage as (

    select * from {{ ref('int_usage_prices_matched') }}
    where price_id is not null

),

prices as (

    select * from {{ ref('prices') }}

),

price_tiers as (

    select * from {{ ref('price_tiers') }}

),

meters as (

    select * from {{ ref('meters') }}

),

-- P3: the price's quantity in a segment is the meter's aggregation over the events it covers.
segment_quantities as (

    select
        matched_usage.account_id,
        matched_usage.period_start,
        matched_usage.plan_valid_from,
        matched_usage.price_id,
        case max(meters.aggregation)
            when 'count' then cast(sum(matched_usage.event_count) as {{ usage_billing.type_quantity() }})
            when 'max' then max(matched_usage.units_max)
            else sum(matched_usage.units_sum)
        end as quantity
    from matched_usage
    inner join meters
        on matched_usage.meter = meters.meter
    group by
        matched_usage.account_id,
        matched_usage.period_start,
        matched_usage.plan_valid_from,
        matched_usage.price_id

),

-- Every price of the plan in force is in play in its segment, used or not (P5/P6 tier 1 flat fees).
segment_prices as (

    select
        segments.*,
        prices.price_id,
        prices.meter,
        prices.endpoint as price_endpoint,
        prices.billing_scheme,
        coalesce(prices.tiers_mode, 'graduated') as tiers_mode,
        prices.unit_amount as price_unit_amount,
        coalesce(prices.package_size, 1) as package_size,
        coalesce(prices.package_rounding, 'up') as package_rounding,
        coalesce(segment_quantities.quantity, 0) as used_quantity,
        -- P8: units past the hard limit are not billed.
        case
            when prices.hard_limit is not null and coalesce(segment_quantities.quantity, 0) > prices.hard_limit
                then prices.hard_limit
            else coalesce(segment_quantities.quantity, 0)
        end as quantity
    from segments
    inner join prices
        on segments.plan_id = prices.plan_id
    left join segment_quantities
        on segments.account_id = segment_quantities.account_id
        and segments.period_start = segment_quantities.period_start
        and segments.plan_valid_from = segment_quantities.plan_valid_from
        and prices.price_id = segment_quantities.price_id

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
        {{ dbt.concat([
            "plan_name", "' base fee'",
            "case when covered_days < period_days then ' (' || cast(covered_days as " ~ dbt.type_string() ~ ") || '/' || cast(period_days as " ~ dbt.type_string() ~ ") || ' days)' else '' end"
        ]) }} as description
    from segments

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
        -- P7: packages are ceil (or floor) of quantity / package_size, per period and price.
        {{ usage_billing.round_money(
            "case when package_size > 1 then " ~ usage_billing.packages_needed('quantity', 'package_size', 'package_rounding')
            ~ " * price_unit_amount else quantity * price_unit_amount end", 'minor_units') }} as amount,
        case when package_size > 1
            then {{ dbt.concat(["meter", "coalesce(' ' || price_endpoint, '')", "': '", usage_billing.format_decimal('quantity'),
                "' in packages of '", "cast(package_size as " ~ dbt.type_string() ~ ")", "' × '",
                usage_billing.format_decimal('price_unit_amount'), "' per package'"]) }}
            else {{ dbt.concat(["meter", "coalesce(' ' || price_endpoint, '')", "': '", usage_billing.format_decimal('quantity'),
                "' × '", usage_billing.format_decimal('price_unit_amount')]) }}
        end as description
    from segment_prices
    where billing_scheme = 'per_unit'

),

tier_bounds as (

    select
        price_tiers.*,
        coalesce(
            lag(price_tiers.up_to) over (partition by price_tiers.price_id order by price_tiers.tier),
            0
        ) as lower_bound
    from price_tiers

),

tiered_lines as (

    select
        segment_prices.invoice_id, segment_prices.account_id, segment_prices.period_start, segment_prices.period_end,
        segment_prices.plan_id, segment_prices.plan_valid_from, segment_prices.currency, segment_prices.minor_units,
        'usage' as line_type,
        segment_prices.meter,
        segment_prices.price_endpoint as endpoint,
        segment_prices.price_id,
        tier_bounds.tier,
        case segment_prices.tiers_mode
            -- P6 volume: the whole quantity is priced in the tier that contains it.
            when 'volume' then segment_prices.quantity
            -- P5 graduated: the units that fall in this tier, e.g. 120,000 over a 50,000 tier 1 → 70,000 in tier 2.
            else (case when tier_bounds.up_to is not null and segment_prices.quantity > tier_bounds.up_to
                    then tier_bounds.up_to else segment_prices.quantity end) - tier_bounds.lower_bound
        end as quantity,
        tier_bounds.unit_amount,
        coalesce(tier_bounds.flat_amount, 0) as flat_amount,
        tier_bounds.lower_bound,
        tier_bounds.up_to
    from segment_prices
    inner join tier_bounds
        on segment_prices.price_id = tier_bounds.price_id
    where segment_prices.billing_scheme = 'tiered'
        and (
            (segment_prices.tiers_mode = 'volume'
                and (tier_bounds.tier = 1 or segment_prices.quantity > tier_bounds.lower_bound)
                and (tier_bounds.up_to is null or segment_prices.quantity <= tier_bounds.up_to))
            or (segment_prices.tiers_mode <> 'volume'
                and (tier_bounds.tier = 1 or segment_prices.quantity > tier_bounds.lower_bound))
        )

),

tiered_lines_priced as (

    select
        invoice_id, account_id, period_start, period_end, plan_id, plan_valid_from, currency, minor_units,
        line_type, meter, endpoint, price_id, tier, quantity, unit_amount,
        {{ usage_billing.round_money('quantity * unit_amount + flat_amount', 'minor_units') }} as amount,
        {{ dbt.concat([
            "meter", "coalesce(' ' || endpoint, '')", "' tier '", "cast(tier as " ~ dbt.type_string() ~ ")",
            "' ('", usage_billing.format_decimal('lower_bound'), "'–'",
            "coalesce(" ~ usage_billing.format_decimal('up_to') ~ ", '∞')", "'): '",
            usage_billing.format_decimal('quantity'), "' × '", usage_billing.format_decimal('unit_amount'),
            "case when flat_amount <> 0 then ' + ' || " ~ usage_billing.format_decimal('flat_amount') ~ " || ' flat' else '' end"
        ]) }} as description
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
        {{ usage_billing.invoice_line_id(['invoice_id', 'line_type', 'plan_valid_from', 'price_id', 'tier']) }} as invoice_line_id,
        invoice_id,
        account_id,
        period_start,
        period_end,
        plan_id,
        plan_valid_from,
        line_type,
        meter,
        endpoint,
        price_id,
        tier,
        description,
        cast(quantity as {{ usage_billing.type_quantity() }}) as quantity,
        cast(unit_amount as {{ usage_billing.type_rate() }}) as unit_amount,
        amount,
        currency,
        minor_units
    from all_lines
    -- P12: a line whose quantity and amount are both 0 is left out.
    where not (quantity = 0 and amount = 0)

)

select * from final
