{#- P2 + P12: one invoice per (account, period) that overlaps a plan and starts before as_of; subtotal
    and total are sums of rounded lines, credits_applied the credit lines' sum as a positive amount (P11).
    A closed invoice (P13) is `final` with the totals it was closed with. -#}
with

segments as (

    select * from {{ ref('int_invoice_plan_segments') }}

),

invoice_lines as (

    select * from {{ ref('fct_invoice_lines') }}

),

final_invoices as (

    select * from {{ ref('stg_ledger__final_invoices') }}

),

open_invoices as (

    select distinct invoice_id, account_id, period_start, period_end, currency
    from segments
    where invoice_id not in (select invoice_id from final_invoices)

),

line_totals as (

    select
        invoice_id,
        sum(case when line_type <> 'credit' then amount else 0 end) as subtotal,
        -sum(case when line_type = 'credit' then amount else 0 end) as credits_applied,
        count(*) as line_count
    from invoice_lines
    group by invoice_id

),

computed_invoices as (

    select
        open_invoices.invoice_id,
        open_invoices.account_id,
        open_invoices.period_start,
        open_invoices.period_end,
        open_invoices.currency,
        cast(coalesce(line_totals.subtotal, 0) as {{ usage_billing.type_money() }}) as subtotal,
        cast(coalesce(line_totals.credits_applied, 0) as {{ usage_billing.type_money() }}) as credits_applied,
        cast(coalesce(line_totals.subtotal, 0) - coalesce(line_totals.credits_applied, 0)
            as {{ usage_billing.type_money() }}) as total,
        cast(coalesce(line_totals.line_count, 0) as {{ dbt.type_int() }}) as line_count,
        'open' as status,
        cast(null as {{ dbt.type_timestamp() }}) as closed_at
    from open_invoices
    left join line_totals
        on open_invoices.invoice_id = line_totals.invoice_id

),

frozen_invoices as (

    select
        invoice_id,
        account_id,
        period_start,
        period_end,
        currency,
        subtotal,
        credits_applied,
        total,
        line_count,
        'final' as status,
        closed_at
    from final_invoices

),

final as (

    select * from frozen_invoices
    union all
    select * from computed_invoices

)

select * from final
