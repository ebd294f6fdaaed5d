{#- P10: the spend cap, then the minimum commitment, one line each per invoice at most.
    Both come from the plan in force on the period's last day, else the last plan in force in the
    period (int_invoice_closing_plans), and are never prorated. Adjustment lines count towards neither.
    Cap: usage lines of all plan segments above maximum_amount are removed by a negative line,
    e.g. usage 523.10 with a 400.00 cap → cap line -123.10.
    Minimum: if base fees + usage (after the cap) stay below minimum_amount, a line adds the rest,
    e.g. base 0.00 + usage 32.50 with a 150.00 minimum → minimum line 117.50. -#}
with

closing_plans as (

    select * from {{ ref('int_invoice_closing_plans') }}
    where minimum_amount is not null or maximum_amount is not null

),

priced_lines as (

    select * from {{ ref('int_invoice_lines_priced') }}

),

invoice_amounts as (

    select
        invoice_id,
        sum(case when line_type = 'usage' then amount else 0 end) as usage_amount,
        sum(case when line_type = 'base_fee' then amount else 0 end) as base_fee_amount
    from priced_lines
    group by invoice_id

),

capped as (

    select
        closing_plans.*,
        coalesce(invoice_amounts.usage_amount, 0) as usage_amount,
        coalesce(invoice_amounts.base_fee_amount, 0) as base_fee_amount,
        case
            when closing_plans.maximum_amount is not null
                and coalesce(invoice_amounts.usage_amount, 0) > closing_plans.maximum_amount
                then {{ usage_billing.round_money(
                    'closing_plans.maximum_amount - coalesce(invoice_amounts.usage_amount, 0)',
                    'closing_plans.minor_units') }}
        end as cap_amount
    from closing_plans
    left join invoice_amounts
        on closing_plans.invoice_id = invoice_amounts.invoice_id

),

cap_lines as (

    select
        invoice_id, account_id, period_start, period_end, plan_id, plan_valid_from, currency, minor_units,
        'cap' as line_type,
        cap_amount as amount,
        'Spend cap: usage ' || {{ usage_billing.format_money('usage_amount', 'currency', 'minor_units') }}
        || ' is over the ' || {{ usage_billing.format_money('maximum_amount', 'currency', 'minor_units') }}
        || ' maximum' as description
    from capped
    where cap_amount is not null

),

minimums as (

    select
        capped.*,
        capped.base_fee_amount + capped.usage_amount + coalesce(capped.cap_amount, 0) as committed_amount
    from capped
    where capped.minimum_amount is not null

),

minimum_lines as (

    select
        invoice_id, account_id, period_start, period_end, plan_id, plan_valid_from, currency, minor_units,
        'minimum' as line_type,
        {{ usage_billing.round_money('minimum_amount - committed_amount', 'minor_units') }} as amount,
        'Minimum commitment ' || {{ usage_billing.format_money('minimum_amount', 'currency', 'minor_units') }}
        || ': ' || {{ usage_billing.format_money('committed_amount', 'currency', 'minor_units') }} || ' billed, '
        || {{ usage_billing.format_money('minimum_amount - committed_amount', 'currency', 'minor_units') }}
        || ' added' as description
    from minimums
    where committed_amount < minimum_amount

),

commitment_lines as (

    select * from cap_lines
    union all
    select * from minimum_lines

),

final as (

    select
        {{- usage_billing.invoice_line_columns({
            'invoice_line_id': usage_billing.invoice_line_id(['invoice_id', 'line_type']),
            'meter': 'cast(null as ' ~ dbt.type_string() ~ ')',
            'endpoint': 'cast(null as ' ~ dbt.type_string() ~ ')',
            'price_id': 'cast(null as ' ~ dbt.type_string() ~ ')',
            'tier': 'cast(null as ' ~ dbt.type_int() ~ ')',
            'quantity': 'cast(1 as ' ~ usage_billing.type_quantity() ~ ')',
            'unit_amount': 'cast(amount as ' ~ usage_billing.type_rate() ~ ')',
        }) }}
    from commitment_lines
    where amount <> 0

)

select * from final
