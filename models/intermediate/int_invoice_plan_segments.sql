{%- do ref('int_catalog_errors') -%}  {#- never price on a broken catalog -#}
{#- P2 + P9: the invoices that exist, one per (account, period) overlapping a plan assignment and
    starting before as_of, split into plan segments (the part of the period each plan covers).
    Test accounts get no invoices. -#}
with

accounts as (

    select * from {{ ref('accounts') }}
    where not coalesce(is_test, false)

),

account_plans as (

    select * from {{ ref('account_plans') }}

),

plans as (

    select * from {{ ref('plans') }}

),

currencies as (

    select * from {{ ref('currencies') }}

),

month_offsets as (

    {{ usage_billing.integers_0_to_999() }}

),

account_first_days as (

    select
        accounts.account_id,
        coalesce(accounts.billing_anchor_day, 1) as billing_anchor_day,
        min(account_plans.valid_from) as first_plan_date
    from accounts
    inner join account_plans
        on accounts.account_id = account_plans.account_id
    group by accounts.account_id, coalesce(accounts.billing_anchor_day, 1)

),

candidate_periods as (

    select
        account_first_days.account_id,
        {{ usage_billing.add_months(
            usage_billing.period_start_for('account_first_days.first_plan_date', 'account_first_days.billing_anchor_day'),
            'month_offsets.n') }} as period_start
    from account_first_days
    cross join month_offsets

),

periods as (

    select
        account_id,
        period_start,
        {{ usage_billing.add_months('period_start', '1') }} as period_end
    from candidate_periods
    where period_start < {{ usage_billing.as_of_expression() }}

),

segments as (

    select
        periods.account_id,
        periods.period_start,
        periods.period_end,
        account_plans.plan_id,
        account_plans.valid_from,
        case when account_plans.valid_from > periods.period_start
            then account_plans.valid_from else periods.period_start end as segment_start,
        case when account_plans.valid_to is not null and account_plans.valid_to < periods.period_end
            then account_plans.valid_to else periods.period_end end as segment_end
    from periods
    inner join account_plans
        on periods.account_id = account_plans.account_id
        and account_plans.valid_from < periods.period_end
        and (account_plans.valid_to is null or account_plans.valid_to > periods.period_start)

),

final as (

    select
        {{ usage_billing.invoice_id('segments.account_id', 'segments.period_start') }} as invoice_id,
        segments.account_id,
        segments.period_start,
        segments.period_end,
        segments.plan_id,
        plans.plan_name,
        segments.valid_from as plan_valid_from,
        segments.segment_start,
        segments.segment_end,
        {{ dbt.datediff('segments.segment_start', 'segments.segment_end', 'day') }} as covered_days,
        {{ dbt.datediff('segments.period_start', 'segments.period_end', 'day') }} as period_days,
        plans.base_fee,
        lower(plans.currency) as currency,
        currencies.minor_units
    from segments
    inner join plans
        on segments.plan_id = plans.plan_id
    inner join currencies
        on lower(plans.currency) = currencies.currency

)

select * from final
