{#- P10: the plan that decides an invoice's spend cap and minimum commitment: the plan segment in force on
    the period's last day, else the last plan in force in the period (the segment that ends last; of two
    ending together, the later assignment), with its plan's minimum_amount and maximum_amount.
    E.g. plan big until 2026-01-31, then plan none for the period's last day → none decides; plan big
    ending on 2026-01-20 with nothing after it → big decides. One row per invoice. -#}
with

segments as (

    select * from {{ ref('int_invoice_plan_segments') }}

),

plans as (

    select * from {{ ref('plans') }}

),

ranked_segments as (

    select
        segments.*,
        row_number() over (
            partition by segments.invoice_id
            order by segments.segment_end desc, segments.plan_valid_from desc
        ) as closing_rank
    from segments

),

closing_plans as (

    select
        ranked_segments.invoice_id,
        ranked_segments.account_id,
        ranked_segments.period_start,
        ranked_segments.period_end,
        ranked_segments.currency,
        ranked_segments.minor_units,
        ranked_segments.plan_id,
        ranked_segments.plan_valid_from,
        plans.minimum_amount,
        plans.maximum_amount
    from ranked_segments
    inner join plans
        on ranked_segments.plan_id = plans.plan_id
    where ranked_segments.closing_rank = 1

)

select * from closing_plans
