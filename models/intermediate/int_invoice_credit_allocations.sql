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

    {{ usage_billing.credit_allocation_steps() }}

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
