{#- What the API gateway should enforce, one row per catalog account for its current period as of the build
    (int_account_current_periods): usage against the hard limits, spend against the spend cap, the prepaid
    credit left, what is overdue, and `access` (allow or block) with the reason. Each block is a setting of
    the plan in force (plans.csv, off when blank), switched on at its threshold:
    - hard_limit_reached: block_on_hard_limit, and a price's quantity has reached its hard limit (2,000 of 2,000);
    - spend_cap_reached: block_on_spend_cap, and the period's usage lines add up to at least maximum_amount;
    - prepaid_credits_exhausted: block_on_no_credits, and the usable grants have nothing left after the
      period's usage charges (a new grant in credit_grants.csv lifts it);
    - invoice_overdue: an invoice is outstanding in Stripe more than block_overdue_days after its due date.
    Test accounts are never blocked. A new period starts with fresh limits and spend. -#}
with

current_periods as (

    select * from {{ ref('int_account_current_periods') }}

),

limits as (

    select * from {{ ref('account_entitlement_limits') }}

),

invoice_lines as (

    select * from {{ ref('fct_invoice_lines') }}

),

credit_balances as (

    select * from {{ ref('fct_credit_balances') }}

),

receivables as (

    select * from {{ ref('accounts_receivable') }}

),

status_reads as (

    select * from {{ ref('stg_ledger__stripe_status_reads') }}

),

hard_limits as (

    select
        account_id,
        cast(sum(case when is_reached then 1 else 0 end) as {{ dbt.type_int() }}) as hard_limits_reached
    from limits
    where limit_type = 'hard_limit'
    group by account_id

),

spend as (

    select
        invoice_id,
        cast(sum(amount) as {{ usage_billing.type_money() }}) as spend
    from invoice_lines
    where line_type = 'usage'
    group by invoice_id

),

credits as (

    select
        invoice_id,
        sum(opening_balance - used) as credit_balance
    from credit_balances
    group by invoice_id

),

overdue as (

    select
        account_id,
        sum(amount_remaining) as overdue_amount,
        cast(max(days_overdue) as {{ dbt.type_int() }}) as max_days_overdue
    from receivables
    where days_overdue > 0
    group by account_id

),

checked as (

    select
        current_periods.*,
        coalesce(spend.spend, 0) as spend,
        coalesce(credits.credit_balance, 0) as credit_balance,
        coalesce(overdue.overdue_amount, 0) as overdue_amount,
        coalesce(overdue.max_days_overdue, 0) as max_days_overdue,
        coalesce(hard_limits.hard_limits_reached, 0) as hard_limits_reached,
        not current_periods.is_test and current_periods.block_on_hard_limit
            and coalesce(hard_limits.hard_limits_reached, 0) > 0 as is_hard_limit_block,
        not current_periods.is_test and current_periods.block_on_spend_cap
            and current_periods.spend_cap is not null
            and coalesce(spend.spend, 0) >= current_periods.spend_cap as is_spend_cap_block,
        not current_periods.is_test and current_periods.block_on_no_credits
            and coalesce(credits.credit_balance, 0) <= 0 as is_credits_block,
        not current_periods.is_test and current_periods.block_overdue_days is not null
            and coalesce(overdue.max_days_overdue, 0) > current_periods.block_overdue_days as is_overdue_block
    from current_periods
    left join hard_limits
        on current_periods.account_id = hard_limits.account_id
    left join spend
        on current_periods.invoice_id = spend.invoice_id
    left join credits
        on current_periods.invoice_id = credits.invoice_id
    left join overdue
        on current_periods.account_id = overdue.account_id

),

final as (

    select
        checked.account_id,
        checked.period_start,
        checked.period_end,
        checked.plan_id,
        checked.currency,
        checked.is_test,
        case
            when checked.is_hard_limit_block or checked.is_spend_cap_block
                or checked.is_credits_block or checked.is_overdue_block then 'block'
            else 'allow'
        end as access,
        case
            when checked.is_hard_limit_block then 'hard_limit_reached'
            when checked.is_spend_cap_block then 'spend_cap_reached'
            when checked.is_credits_block then 'prepaid_credits_exhausted'
            when checked.is_overdue_block then 'invoice_overdue'
        end as block_reason,
        nullif(concat_ws(
            ',',
            case when checked.is_hard_limit_block then 'hard_limit_reached' end,
            case when checked.is_spend_cap_block then 'spend_cap_reached' end,
            case when checked.is_credits_block then 'prepaid_credits_exhausted' end,
            case when checked.is_overdue_block then 'invoice_overdue' end
        ), '') as block_reasons,
        checked.hard_limits_reached,
        checked.spend,
        cast(checked.spend_cap as {{ usage_billing.type_money() }}) as spend_cap,
        checked.credit_balance,
        checked.overdue_amount,
        checked.max_days_overdue,
        checked.block_overdue_days,
        checked.when_stale,
        checked.stale_after_hours,
        checked.as_of_at,
        status_reads.last_read_at as payments_read_at
    from checked
    cross join status_reads

)

select * from final
