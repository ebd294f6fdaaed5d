{#- BI / finance: invoiced revenue per month, plan and currency. The month is the month the billing
    period starts in (the month `usage-billing close --period` closes). Charges are the rounded
    lines other than credits, each under the plan it carries (base fees and usage by plan segment,
    cap and minimum by the plan in force on the period's last day, adjustments by the price's plan).
    Credit lines carry no plan: they count against the plan in force at the end of the period (the
    assignment with the latest valid_from that overlaps it), the same plan P10 takes its cap from.
    net_amount = charges − credits, so the months add up to the invoice totals. -#}
with

invoice_lines as (

    select * from {{ ref('fct_invoice_lines') }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

account_plans as (

    select * from {{ ref('account_plans') }}

),

plans as (

    select * from {{ ref('plans') }}

),

period_end_plans as (

    select
        invoices.invoice_id,
        account_plans.plan_id,
        row_number() over (
            partition by invoices.invoice_id
            order by account_plans.valid_from desc
        ) as plan_rank
    from invoices
    inner join account_plans
        on invoices.account_id = account_plans.account_id
        and account_plans.valid_from < invoices.period_end
        and (account_plans.valid_to is null or account_plans.valid_to > invoices.period_start)

),

lines_with_plan as (

    select
        invoice_lines.invoice_id,
        invoice_lines.account_id,
        invoice_lines.currency,
        invoice_lines.line_type,
        invoice_lines.amount,
        coalesce(invoice_lines.plan_id, period_end_plans.plan_id) as plan_id,
        cast({{ dbt.date_trunc('month', 'invoice_lines.period_start') }} as date) as revenue_month
    from invoice_lines
    left join period_end_plans
        on invoice_lines.invoice_id = period_end_plans.invoice_id
        and period_end_plans.plan_rank = 1

),

monthly as (

    select
        revenue_month,
        plan_id,
        currency,
        count(distinct invoice_id) as invoice_count,
        count(distinct account_id) as account_count,
        sum(case when line_type = 'base_fee' then amount else 0 end) as base_fee_amount,
        sum(case when line_type in ('usage', 'cap') then amount else 0 end) as usage_amount,
        sum(case when line_type = 'minimum' then amount else 0 end) as minimum_amount,
        sum(case when line_type = 'adjustment' then amount else 0 end) as adjustment_amount,
        sum(case when line_type <> 'credit' then amount else 0 end) as charges_amount,
        -sum(case when line_type = 'credit' then amount else 0 end) as credits_amount,
        sum(amount) as net_amount
    from lines_with_plan
    group by revenue_month, plan_id, currency

),

final as (

    select
        monthly.revenue_month,
        monthly.plan_id,
        plans.plan_name,
        monthly.currency,
        cast(monthly.invoice_count as {{ dbt.type_bigint() }}) as invoice_count,
        cast(monthly.account_count as {{ dbt.type_bigint() }}) as account_count,
        cast(monthly.base_fee_amount as {{ usage_billing.type_money() }}) as base_fee_amount,
        cast(monthly.usage_amount as {{ usage_billing.type_money() }}) as usage_amount,
        cast(monthly.minimum_amount as {{ usage_billing.type_money() }}) as minimum_amount,
        cast(monthly.adjustment_amount as {{ usage_billing.type_money() }}) as adjustment_amount,
        cast(monthly.charges_amount as {{ usage_billing.type_money() }}) as charges_amount,
        cast(monthly.credits_amount as {{ usage_billing.type_money() }}) as credits_amount,
        cast(monthly.net_amount as {{ usage_billing.type_money() }}) as net_amount
    from monthly
    left join plans
        on monthly.plan_id = plans.plan_id

)

select * from final
