{#- P12: an invoice's subtotal, credits, total and line count are exactly its lines' sums. -#}
{% test lines_sum_to_invoice(model, lines) %}
with

line_sums as (

    select
        invoice_id,
        sum(case when line_type <> 'credit' then amount else 0 end) as subtotal,
        -sum(case when line_type = 'credit' then amount else 0 end) as credits_applied,
        count(*) as line_count
    from {{ lines }}
    group by invoice_id

),

mismatches as (

    select
        invoices.invoice_id,
        invoices.subtotal,
        invoices.credits_applied,
        invoices.total,
        invoices.line_count,
        line_sums.subtotal as line_subtotal,
        line_sums.line_count as lines_counted
    from {{ model }} as invoices
    left join line_sums
        on invoices.invoice_id = line_sums.invoice_id
    where invoices.subtotal <> coalesce(line_sums.subtotal, 0)
        or invoices.credits_applied <> coalesce(line_sums.credits_applied, 0)
        or invoices.total <> invoices.subtotal - invoices.credits_applied
        or invoices.line_count <> coalesce(line_sums.line_count, 0)

),

orphan_lines as (

    select
        line_sums.invoice_id,
        null, null, null, null,
        line_sums.subtotal,
        line_sums.line_count
    from line_sums
    left join {{ model }} as invoices
        on line_sums.invoice_id = invoices.invoice_id
    where invoices.invoice_id is null

)

select * from mismatches
union all
select * from orphan_lines
{% endtest %}
