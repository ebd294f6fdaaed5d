{#- What customers owe on pushed invoices, as Stripe last reported it, aged for finance: one row per pushed
    invoice. An invoice is outstanding while Stripe has it open or uncollectible with an amount remaining;
    it is due on Stripe's due_date, or, for invoices Stripe charges automatically (no due date), on the day
    it was finalized. days_overdue counts from that day to the aging day (var receivables_date, default the
    build's day, UTC): 0-30, 31-60, 61-90 and 90+ days (e.g. due 2026-03-01, aged on 2026-04-15 → 45 days,
    31-60). Paid, void and fully credited invoices have no days overdue and no bucket. -#}
with

invoice_status as (

    select * from {{ ref('stg_ledger__stripe_invoice_status') }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

currencies as (

    select * from {{ ref('currencies') }}

),

amounts as (

    select
        invoice_status.invoice_id,
        invoice_status.account_id,
        invoices.period_start,
        invoices.period_end,
        invoice_status.currency,
        invoice_status.stripe_invoice_id,
        invoice_status.stripe_status,
        invoices.total as invoice_total,
        {{ usage_billing.from_minor_units('invoice_status.amount_due_minor', 'currencies.minor_units') }} as amount_due,
        {{ usage_billing.from_minor_units('invoice_status.amount_paid_minor', 'currencies.minor_units') }} as amount_paid,
        {{ usage_billing.from_minor_units('invoice_status.amount_remaining_minor', 'currencies.minor_units') }}
            as amount_remaining,
        coalesce(invoice_status.due_date, cast(invoice_status.finalized_at as date)) as due_date,
        invoice_status.stripe_status in ('open', 'uncollectible')
            and invoice_status.amount_remaining_minor > 0 as is_outstanding,
        {{ usage_billing.receivables_date() }} as aged_on,
        invoice_status.read_at as status_read_at
    from invoice_status
    left join invoices
        on invoice_status.invoice_id = invoices.invoice_id
    left join currencies
        on lower(invoice_status.currency) = currencies.currency

),

aged as (

    select
        amounts.*,
        case
            when amounts.is_outstanding and amounts.due_date < amounts.aged_on
                then cast({{ dbt.datediff('amounts.due_date', 'amounts.aged_on', 'day') }} as {{ dbt.type_int() }})
            when amounts.is_outstanding then 0
        end as days_overdue
    from amounts

),

final as (

    select
        invoice_id,
        account_id,
        period_start,
        period_end,
        currency,
        stripe_invoice_id,
        stripe_status,
        invoice_total,
        amount_due,
        amount_paid,
        amount_remaining,
        due_date,
        is_outstanding,
        days_overdue,
        case
            when days_overdue is null then null
            when days_overdue <= 30 then '0-30'
            when days_overdue <= 60 then '31-60'
            when days_overdue <= 90 then '61-90'
            else '90+'
        end as aging_bucket,
        aged_on,
        status_read_at
    from aged

)

select * from final
