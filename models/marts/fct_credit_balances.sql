{#- What is left of each prepaid credit grant, per invoice period of its account (P11): the balance
    before the invoice, what the invoice drew, what expired at the period end, and what is left.
    A row exists from the first period the grant is effective in up to the one it expires in.
    opening - used - expired = closing, exactly (grant amounts keep their own precision). -#}
with

credit_allocations as (

    select * from {{ ref('int_invoice_credit_allocations') }}

),

final as (

    select
        grant_id,
        account_id,
        invoice_id,
        period_start,
        period_end,
        currency,
        grant_amount,
        effective_at,
        expires_at,
        opening_balance,
        used,
        expired,
        closing_balance
    from credit_allocations
    where effective_at < period_end
        and (expires_at is null or period_start < expires_at)

)

select * from final
