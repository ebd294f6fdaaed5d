{#- Every price of the plan in force in each invoice's plan segment, with the quantity it bills.
    P3: the quantity is the meter's aggregation over the billable events the price covers in the
    segment: sum of units, count of events, max of units, or count of distinct values.
    P8: the billed quantity stops at the hard limit; the rest is the excess (reported in
    usage_alerts, never billed), e.g. 2,350 calls with hard_limit 2,000 → 2,000 billed, 350 excess.
    Prices without usage are here too (quantity 0): tier 1 flat fees apply to them (P5/P6). -#}
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

meters as (

    select * from {{ ref('meters') }}

),

segment_quantities as (

    select
        matched_usage.account_id,
        matched_usage.period_start,
        matched_usage.plan_valid_from,
        matched_usage.price_id,
        case max(meters.aggregation)
            when 'count' then cast(sum(matched_usage.event_count) as {{ usage_billing.type_quantity() }})
            when 'max' then max(matched_usage.units_max)
            when 'unique_count'
                then cast(count(distinct matched_usage.unique_value) as {{ usage_billing.type_quantity() }})
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

segment_prices as (

    select
        segments.*,
        prices.price_id,
        prices.meter,
        meters.unit_label,
        prices.endpoint as price_endpoint,
        prices.billing_scheme,
        coalesce(prices.tiers_mode, 'graduated') as tiers_mode,
        prices.unit_amount as price_unit_amount,
        coalesce(prices.package_size, 1) as package_size,
        coalesce(prices.package_rounding, 'up') as package_rounding,
        prices.hard_limit,
        coalesce(segment_quantities.quantity, 0) as used_quantity
    from segments
    inner join prices
        on segments.plan_id = prices.plan_id
    inner join meters
        on prices.meter = meters.meter
    left join segment_quantities
        on segments.account_id = segment_quantities.account_id
        and segments.period_start = segment_quantities.period_start
        and segments.plan_valid_from = segment_quantities.plan_valid_from
        and prices.price_id = segment_quantities.price_id

),

final as (

    select
        segment_prices.*,
        {{ usage_billing.quantity_within_hard_limit('used_quantity', 'hard_limit') }} as quantity,
        case
            when hard_limit is not null and used_quantity > hard_limit then used_quantity - hard_limit
            else cast(0 as {{ usage_billing.type_quantity() }})
        end as excess_quantity
    from segment_prices

)

select * from final
