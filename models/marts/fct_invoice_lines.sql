with

priced_lines as (

    select * from {{ ref('int_invoice_lines_priced') }}

),

final as (

    select
        invoice_line_id,
        invoice_id,
        account_id,
        period_start,
        period_end,
        line_type,
        meter,
        endpoint,
        price_id,
        tier,
        description,
        quantity,
        unit_amount,
        amount,
        currency,
        false as is_final,
        plan_id
    from priced_lines

)

select * from final
