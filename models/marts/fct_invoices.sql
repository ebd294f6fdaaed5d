{#- P2 + P12: one invoice per (account, period) that overlaps a plan and starts before as_of;
    subtotal and total are sums of rounded lines (no credits before P11). -#}
with

segments as (

    select * from {{ ref('int_invoice_plan_segments') }}

),

invoice_lines as (

    select * from {{ ref('fct_invoice_lines') }}

),

invoices as (

    select distinct invoice_id, account_id, period_start, period_end, currency
    from segments

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

final as (

    select
        invoices.invoice_id,
        invoices.account_id,
        invoices.period_start,
        invoices.period_end,
        invoices.currency,
        cast(coalesce(line_totals.subtotal, 0) as {{ usage_billing.type_money() }}) as subtotal,
        cast(coalesce(line_totals.credits_applied, 0) as {{ usage_billing.type_money() }}) as credits_applied,
        cast(coalesce(line_totals.subtotal, 0) - coalesce(line_totals.credits_applied, 0)
            as {{ usage_billing.type_money() }}) as total,
        cast(coalesce(line_totals.line_count, 0) as {{ dbt.type_int() }}) as line_count,
        'open' as status
    from invoices
    left join line_totals
        on invoices.invoice_id = line_totals.invoice_id

)

select * from final
