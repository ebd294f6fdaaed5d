{#- P11: prepaid credit grants paying each invoice's usage and adjustment charges (after the cap),
    never base fees or minimums. Per account, invoices are settled in period order; a grant is
    usable for an invoice when effective_at < period_end and it does not expire by period_end
    (expires_at blank or > period_end). Usable grants are drawn soonest expiry first (never
    expiring last), then earliest effective_at, then grant_id; what is left carries forward, and
    is lost at the first period end on or after expires_at.
    Example: grants A 40.00 (expires Feb 20) and B 25.125 (never); January usage 52.30 draws
    A 40.00 then B 12.30 (B keeps 12.825); A is empty, so February's 20.00 draws B 12.825.
    One row per grant and invoice of its account; amounts exact (a grant may have more decimals
    than the currency: only the credit line is rounded, P12). A closed invoice (P13) keeps the draws it
    was closed with, so balances carry forward from what was actually billed. -#}
with recursive

segments as (

    select * from {{ ref('int_invoice_plan_segments') }}

),

priced_lines as (

    select * from {{ ref('int_invoice_lines_priced') }}

),

committed_lines as (

    select * from {{ ref('int_invoice_lines_committed') }}

),

credit_grants as (

    select * from {{ ref('credit_grants') }}

),

adjustment_lines as (

    select * from {{ ref('int_invoice_adjustments') }}

),

final_invoices as (

    select * from {{ ref('stg_ledger__final_invoices') }}

),

final_draws as (

    select invoice_id, grant_id, -unit_amount as used
    from {{ ref('stg_ledger__final_invoice_lines') }}
    where line_type = 'credit'

),

invoices as (

    select distinct invoice_id, account_id, period_start, period_end, currency, minor_units
    from segments

),

creditable_lines as (

    select invoice_id, amount from priced_lines
    where line_type = 'usage'
    union all
    select invoice_id, amount from adjustment_lines
    union all
    select invoice_id, amount from committed_lines
    where line_type = 'cap'

),

creditable_totals as (

    select
        invoice_id,
        sum(amount) as creditable_amount
    from creditable_lines
    group by invoice_id

),

creditable_invoices as (

    select
        invoices.*,
        cast(case
            when coalesce(creditable_totals.creditable_amount, 0) > 0 then creditable_totals.creditable_amount
            else 0
        end as {{ usage_billing.type_rate() }}) as creditable_amount,
        row_number() over (partition by invoices.account_id order by invoices.period_start) as invoice_seq,
        invoices.invoice_id in (select invoice_id from final_invoices) as is_closed
    from invoices
    left join creditable_totals
        on invoices.invoice_id = creditable_totals.invoice_id

),

ranked_grants as (

    select
        credit_grants.grant_id,
        credit_grants.account_id,
        cast(credit_grants.amount as {{ usage_billing.type_rate() }}) as grant_amount,
        credit_grants.effective_at,
        credit_grants.expires_at,
        row_number() over (
            partition by credit_grants.account_id
            order by
                case when credit_grants.expires_at is null then 1 else 0 end,
                credit_grants.expires_at,
                credit_grants.effective_at,
                credit_grants.grant_id
        ) as grant_priority
    from credit_grants
    where credit_grants.account_id in (select account_id from invoices)

),

-- One step per invoice of the account: each grant's balance before (opening), drawn (used),
-- lost to expiry (expired) and after (closing).
allocations as (

    select
        account_id,
        cast(0 as {{ dbt.type_bigint() }}) as invoice_seq,
        grant_id,
        grant_priority,
        grant_amount,
        effective_at,
        expires_at,
        cast(null as {{ dbt.type_string() }}) as invoice_id,
        grant_amount as opening_balance,
        cast(0 as {{ usage_billing.type_rate() }}) as used,
        cast(0 as {{ usage_billing.type_rate() }}) as expired,
        grant_amount as closing_balance
    from ranked_grants

    union all

    select
        account_id, invoice_seq, grant_id, grant_priority, grant_amount, effective_at, expires_at, invoice_id,
        opening_balance,
        used,
        expired,
        cast(opening_balance - used - expired as {{ usage_billing.type_rate() }}) as closing_balance
    from (
        select
            drawn.*,
            cast(case
                when drawn.expires_at is not null and drawn.expires_at <= drawn.period_end
                    then drawn.opening_balance - drawn.used
                else 0
            end as {{ usage_billing.type_rate() }}) as expired
        from (
            select
                usable.*,
                -- What is left to pay once higher-priority usable grants have paid what they can.
                cast(case
                    when usable.is_closed then coalesce(usable.final_used, 0)
                    when not usable.is_usable then 0
                    when usable.creditable_amount - (usable.available_through - usable.opening_balance) <= 0 then 0
                    when usable.creditable_amount - (usable.available_through - usable.opening_balance)
                        >= usable.opening_balance then usable.opening_balance
                    else usable.creditable_amount - (usable.available_through - usable.opening_balance)
                end as {{ usage_billing.type_rate() }}) as used
            from (
                select
                    eligible.*,
                    sum(case when eligible.is_usable then eligible.opening_balance else 0 end) over (
                        partition by eligible.account_id
                        order by eligible.grant_priority
                        rows between unbounded preceding and current row
                    ) as available_through
                from (
                    select
                        previous.account_id,
                        creditable_invoices.invoice_seq,
                        previous.grant_id,
                        previous.grant_priority,
                        previous.grant_amount,
                        previous.effective_at,
                        previous.expires_at,
                        creditable_invoices.invoice_id,
                        creditable_invoices.period_end,
                        creditable_invoices.creditable_amount,
                        creditable_invoices.is_closed,
                        final_draws.used as final_used,
                        previous.closing_balance as opening_balance,
                        previous.effective_at < creditable_invoices.period_end
                        and (previous.expires_at is null or previous.expires_at > creditable_invoices.period_end)
                        and previous.closing_balance > 0 as is_usable
                    from allocations as previous
                    inner join creditable_invoices
                        on previous.account_id = creditable_invoices.account_id
                        and creditable_invoices.invoice_seq = previous.invoice_seq + 1
                    left join final_draws
                        on creditable_invoices.invoice_id = final_draws.invoice_id
                        and previous.grant_id = final_draws.grant_id
                ) as eligible
            ) as usable
        ) as drawn
    ) as settled

),

final as (

    select
        allocations.invoice_id,
        allocations.account_id,
        creditable_invoices.period_start,
        creditable_invoices.period_end,
        creditable_invoices.currency,
        creditable_invoices.minor_units,
        allocations.grant_id,
        allocations.grant_amount,
        allocations.effective_at,
        allocations.expires_at,
        allocations.grant_priority,
        allocations.opening_balance,
        allocations.used,
        allocations.expired,
        allocations.closing_balance
    from allocations
    inner join creditable_invoices
        on allocations.invoice_id = creditable_invoices.invoice_id
    where allocations.invoice_seq > 0

)

select * from final
