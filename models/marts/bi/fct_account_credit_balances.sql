{#- BI / customer success: prepaid credit per account and period, all grants together (P11):
    opening − used − expired = closing, exactly, in major units of the account's currency. The
    per-grant rows are in fct_credit_balances. -#}
with

credit_balances as (

    select * from {{ ref('fct_credit_balances') }}

),

final as (

    select
        account_id,
        period_start,
        max(period_end) as period_end,
        max(invoice_id) as invoice_id,
        max(currency) as currency,
        cast(count(*) as {{ dbt.type_bigint() }}) as grant_count,
        cast(sum(opening_balance) as {{ usage_billing.type_rate() }}) as opening_balance,
        cast(sum(used) as {{ usage_billing.type_rate() }}) as used,
        cast(sum(expired) as {{ usage_billing.type_rate() }}) as expired,
        cast(sum(closing_balance) as {{ usage_billing.type_rate() }}) as closing_balance
    from credit_balances
    group by account_id, period_start

)

select * from final
