{#- Every catalog account's current billing period (P1) as of the build's as_of (P2), the plan in force at
    as_of with its enforcement settings (plans.csv; blank = off), and the period's invoice (none for test
    accounts, P2). The gateway's entitlements are computed for this period. -#}
with

accounts as (

    select * from {{ ref('accounts') }}

),

account_plans as (

    select * from {{ ref('account_plans') }}

),

plans as (

    select * from {{ ref('plans') }}

),

segments as (

    select * from {{ ref('int_invoice_plan_segments') }}

),

as_of as (

    select {{ usage_billing.as_of_expression() }} as as_of_at

),

periods as (

    select
        accounts.account_id,
        accounts.currency,
        coalesce(accounts.is_test, false) as is_test,
        as_of.as_of_at,
        {{ usage_billing.period_start_for('cast(as_of.as_of_at as date)', 'coalesce(accounts.billing_anchor_day, 1)') }}
            as period_start
    from accounts
    cross join as_of
    where as_of.as_of_at is not null

),

plans_in_force as (

    select
        periods.*,
        {{ usage_billing.add_months('periods.period_start', 1) }} as period_end,
        account_plans.plan_id,
        account_plans.valid_from as plan_valid_from
    from periods
    left join account_plans
        on periods.account_id = account_plans.account_id
        and account_plans.valid_from <= cast(periods.as_of_at as date)
        and (account_plans.valid_to is null or account_plans.valid_to > cast(periods.as_of_at as date))

),

final as (

    select
        plans_in_force.account_id,
        plans_in_force.currency,
        plans_in_force.is_test,
        plans_in_force.as_of_at,
        plans_in_force.period_start,
        plans_in_force.period_end,
        plans_in_force.plan_id,
        plans_in_force.plan_valid_from,
        segments.invoice_id,
        plans.maximum_amount as spend_cap,
        coalesce(plans.block_on_hard_limit, false) as block_on_hard_limit,
        coalesce(plans.block_on_spend_cap, false) as block_on_spend_cap,
        coalesce(plans.block_on_no_credits, false) as block_on_no_credits,
        plans.block_overdue_days,
        coalesce(plans.when_stale, 'allow') as when_stale,
        coalesce(plans.stale_after_hours, 24) as stale_after_hours
    from plans_in_force
    left join plans
        on plans_in_force.plan_id = plans.plan_id
    left join segments
        on plans_in_force.account_id = segments.account_id
        and plans_in_force.period_start = segments.period_start
        and plans_in_force.plan_valid_from = segments.plan_valid_from

)

select * from final
