{#- The latest payment status Stripe reported for each pushed invoice (the last row of its history). -#}
with

status_history as (

    select * from {{ source('ledger', 'stripe_invoice_status') }}

),

ranked as (

    select
        status_history.*,
        row_number() over (
            partition by invoice_id order by read_at desc, stripe_invoice_id desc
        ) as recency
    from status_history

),

final as (

    select
        invoice_id,
        account_id,
        stripe_invoice_id,
        currency,
        stripe_status,
        amount_due_minor,
        amount_paid_minor,
        amount_remaining_minor,
        due_date,
        finalized_at,
        paid_at,
        read_at
    from ranked
    where recency = 1

)

select * from final
