{#- Every line of every invoice: base fees and usage (P5-P9), the spend cap and minimum (P10), one
    credit line per prepaid grant drawn (P11) and adjustments for late usage in closed periods (P14),
    each rounded to the currency's minor units (P12). Closed invoices (P13) show the lines frozen in the
    ledger when they closed, whatever has happened since. -#}
{%- set credit_description -%}
    'Prepaid credit (grant ' || grant_id || ', '
    || {{ usage_billing.format_money(usage_billing.round_money('closing_balance', 'minor_units'), 'currency', 'minor_units') }}
    || ' left'
    || case when expires_at is not null
        then ' until ' || cast(expires_at as {{ dbt.type_string() }})
        else ''
    end || ')'
{%- endset %}
{#- The published columns, in the contract's order: of open lines (computed now) and frozen ones alike. -#}
{%- set published_columns = [
    'invoice_line_id', 'invoice_id', 'account_id', 'period_start', 'period_end', 'line_type', 'meter',
    'endpoint', 'price_id', 'tier', 'description', 'quantity', 'unit_amount', 'amount', 'currency',
    'is_final', 'plan_id', 'grant_id', 'adjusted_period_start',
] %}
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

adjustment_lines as (

    select * from {{ ref('int_invoice_adjustments') }}

),

final_lines as (

    select * from {{ ref('stg_ledger__final_invoice_lines') }}

),

final_invoices as (

    select * from {{ ref('stg_ledger__final_invoices') }}

),

credit_lines as (

    select
        {{- usage_billing.invoice_line_columns({
            'invoice_line_id': usage_billing.invoice_line_id(['invoice_id', "'credit'", 'grant_id']),
            'plan_id': 'cast(null as ' ~ dbt.type_string() ~ ')',
            'plan_valid_from': 'cast(null as date)',
            'line_type': "'credit'",
            'meter': 'cast(null as ' ~ dbt.type_string() ~ ')',
            'endpoint': 'cast(null as ' ~ dbt.type_string() ~ ')',
            'price_id': 'cast(null as ' ~ dbt.type_string() ~ ')',
            'tier': 'cast(null as ' ~ dbt.type_int() ~ ')',
            'description': credit_description,
            'quantity': 'cast(1 as ' ~ usage_billing.type_quantity() ~ ')',
            'unit_amount': 'cast(-used as ' ~ usage_billing.type_rate() ~ ')',
            'amount': usage_billing.round_money('-used', 'minor_units'),
        }) }},
        grant_id,
        cast(null as date) as adjusted_period_start
    from credit_allocations
    where used > 0

),

open_lines as (

    select *, cast(null as {{ dbt.type_string() }}) as grant_id, cast(null as date) as adjusted_period_start
    from priced_lines
    union all
    select *, cast(null as {{ dbt.type_string() }}) as grant_id, cast(null as date) as adjusted_period_start
    from committed_lines
    union all
    select * from credit_lines
    union all
    select
        {{- usage_billing.invoice_line_columns() }},
        cast(null as {{ dbt.type_string() }}) as grant_id,
        adjusted_period_start
    from adjustment_lines

),

computed_lines as (

    select
        {%- for column in published_columns %}
        {{ 'false as is_final' if column == 'is_final' else column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from open_lines
    where invoice_id not in (select invoice_id from final_invoices)

),

frozen_lines as (

    select
        {%- for column in published_columns %}
        {{ 'true as is_final' if column == 'is_final' else column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from final_lines

),

final as (

    select * from frozen_lines
    union all
    select * from computed_lines

)

select * from final
