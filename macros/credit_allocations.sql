{#- P11 credit allocation, one step per invoice of an account (int_invoice_credit_allocations): the
    first row per grant (invoice_seq 0), then each step settles invoice n + 1 from the balances after
    invoice n. DuckDB runs it as the recursive CTE `allocations`. Spark (4.1) rejects a recursive reference
    under a window function (the running sum over grant priority), so there the steps are unrolled: as
    many as the most invoices any account has, each reading the one before. Same rows, same arithmetic. -#}
{% macro credit_allocation_steps() %}
    {{ return(adapter.dispatch('credit_allocation_steps', 'usage_billing')()) }}
{% endmacro %}

{% macro default__credit_allocation_steps() -%}
    {{ usage_billing.credit_allocation_first_step() }}

    union all

    {{ usage_billing.credit_allocation_next_step('allocations') }}
{%- endmacro %}

{% macro spark__credit_allocation_steps() -%}
    {%- set count_sql -%}
        select coalesce(max(invoice_count), 0) from (
            select account_id, count(distinct invoice_id) as invoice_count
            from {{ ref('int_invoice_plan_segments') }}
            group by account_id
        ) as per_account
    {%- endset -%}
    {%- set steps = (run_query(count_sql).columns[0].values()[0] | int) if execute else 0 -%}
    {%- set previous = namespace(sql='(' ~ usage_billing.credit_allocation_first_step() ~ ')') -%}
    select * from {{ previous.sql }} as step_0
    {%- for n in range(1, steps + 1) %}
    {%- set previous.sql = '(' ~ usage_billing.credit_allocation_next_step(previous.sql) ~ ')' %}
    union all
    select * from {{ previous.sql }} as step_{{ n }}
    {%- endfor %}
{%- endmacro %}

{% macro credit_allocation_first_step() -%}
    select
        account_id,
        cast(0 as {{ dbt.type_bigint() }}) as invoice_seq,
        grant_id,
        grant_priority,
        grant_amount,
        effective_at,
        expires_at,
        cast(null as {{ dbt.type_string() }}) as invoice_id,
        grant_amount as opening_balance,
        cast(0 as {{ usage_billing.type_rate() }}) as used,
        cast(0 as {{ usage_billing.type_rate() }}) as expired,
        grant_amount as closing_balance
    from ranked_grants
{%- endmacro %}

{#- previous: the relation (or subquery) holding the balances after the previous invoice. -#}
{% macro credit_allocation_next_step(previous) -%}
    select
        account_id, invoice_seq, grant_id, grant_priority, grant_amount, effective_at, expires_at, invoice_id,
        opening_balance,
        used,
        expired,
        cast(opening_balance - used - expired as {{ usage_billing.type_rate() }}) as closing_balance
    from (
        select
            drawn.*,
            cast(case
                when drawn.expires_at is not null and drawn.expires_at <= drawn.period_end
                    then drawn.opening_balance - drawn.used
                else 0
            end as {{ usage_billing.type_rate() }}) as expired
        from (
            select
                usable.*,
                -- What is left to pay once higher-priority usable grants have paid what they can.
                cast(case
                    when usable.is_closed then coalesce(usable.final_used, 0)
                    when not usable.is_usable then 0
                    when usable.creditable_amount - (usable.available_through - usable.opening_balance) <= 0 then 0
                    when usable.creditable_amount - (usable.available_through - usable.opening_balance)
                        >= usable.opening_balance then usable.opening_balance
                    else usable.creditable_amount - (usable.available_through - usable.opening_balance)
                end as {{ usage_billing.type_rate() }}) as used
            from (
                select
                    eligible.*,
                    sum(case when eligible.is_usable then eligible.opening_balance else 0 end) over (
                        partition by eligible.account_id
                        order by eligible.grant_priority
                        rows between unbounded preceding and current row
                    ) as available_through
                from (
                    select
                        previous.account_id,
                        creditable_invoices.invoice_seq,
                        previous.grant_id,
                        previous.grant_priority,
                        previous.grant_amount,
                        previous.effective_at,
                        previous.expires_at,
                        creditable_invoices.invoice_id,
                        creditable_invoices.period_end,
                        creditable_invoices.creditable_amount,
                        creditable_invoices.is_closed,
                        final_draws.used as final_used,
                        previous.closing_balance as opening_balance,
                        previous.effective_at < creditable_invoices.period_end
                        and (previous.expires_at is null or previous.expires_at > creditable_invoices.period_end)
                        and previous.closing_balance > 0 as is_usable
                    from {{ previous }} as previous
                    inner join creditable_invoices
                        on previous.account_id = creditable_invoices.account_id
                        and creditable_invoices.invoice_seq = previous.invoice_seq + 1
                    left join final_draws
                        on creditable_invoices.invoice_id = final_draws.invoice_id
                        and previous.grant_id = final_draws.grant_id
                ) as eligible
            ) as usable
        ) as drawn
    ) as settled
{%- endmacro %}
