{#- Every line of every invoice: base fees and usage (P5-P9), the spend cap and minimum (P10) and
    one credit line per prepaid grant drawn (P11), each rounded to the currency's minor units (P12). -#}
with

priced_lines as (

    select * from {{ ref('int_invoice_lines_priced') }}

),

committed_lines as (

    select * from {{ ref('int_invoice_lines_committed') }}

),

credit_allocations as (

    select * from {{ ref('int_invoice_credit_allocations') }}

),

credit_lines as (

    select
        {{ usage_billing.invoice_line_id(['invoice_id', "'credit'", 'grant_id']) }} as invoice_line_id,
        invoice_id,
        account_id,
        period_start,
        period_end,
        cast(null as {{ dbt.type_string() }}) as plan_id,
        cast(null as date) as plan_valid_from,
        'credit' as line_type,
        cast(null as {{ dbt.type_string() }}) as meter,
        cast(null as {{ dbt.type_string() }}) as endpoint,
        cast(null as {{ dbt.type_string() }}) as price_id,
        cast(null as {{ dbt.type_int() }}) as tier,
        'Prepaid credit (grant ' || grant_id || ', '
        || {{ usage_billing.format_money(usage_billing.round_money('closing_balance', 'minor_units'), 'currency', 'minor_units') }}
        || ' left'
        || case when expires_at is not null
            then ' until ' || cast(expires_at as {{ dbt.type_string() }})
            else ''
        end || ')' as description,
        cast(1 as {{ usage_billing.type_quantity() }}) as quantity,
        cast(-used as {{ usage_billing.type_rate() }}) as unit_amount,
        {{ usage_billing.round_money('-used', 'minor_units') }} as amount,
        currency,
        minor_units,
        grant_id
    from credit_allocations
    where used > 0

),

all_lines as (

    select *, cast(null as {{ dbt.type_string() }}) as grant_id from priced_lines
    union all
    select *, cast(null as {{ dbt.type_string() }}) as grant_id from committed_lines
    union all
    select * from credit_lines

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
        plan_id,
        grant_id
    from all_lines

)

select * from final
