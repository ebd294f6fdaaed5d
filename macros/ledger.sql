{#- The close ledger (P13): append-only tables that dbt never builds, drops or full-refreshes. Every run
    makes sure they exist (on-run-start); `close_billing_periods` is the only thing that writes them, and it
    only ever inserts. The marts read final lines from here for closed periods. -#}

{% macro ledger_column_types() -%}
    {{ return({
        'invoice_line_id': dbt.type_string(), 'invoice_id': dbt.type_string(), 'account_id': dbt.type_string(),
        'period_start': 'date', 'period_end': 'date', 'line_type': dbt.type_string(), 'meter': dbt.type_string(),
        'endpoint': dbt.type_string(), 'price_id': dbt.type_string(), 'tier': dbt.type_int(),
        'description': dbt.type_string(), 'quantity': usage_billing.type_quantity(),
        'unit_amount': usage_billing.type_rate(), 'amount': usage_billing.type_money(),
        'currency': dbt.type_string(), 'plan_id': dbt.type_string(), 'grant_id': dbt.type_string(),
        'adjusted_period_start': 'date', 'closed_at': dbt.type_timestamp(),
    }) }}
{%- endmacro %}

{% macro create_ledger_tables() %}
    {{ return(adapter.dispatch('create_ledger_tables', 'usage_billing')()) }}
{% endmacro %}

{% macro ledger_table_ddl() -%}
    {%- set line_columns = usage_billing.ledger_column_types() -%}
    create schema if not exists ledger;
    create table if not exists ledger.final_invoice_lines (
        {%- for name, type in line_columns.items() %}
        {{ name }} {{ type }}{{ ',' if not loop.last }}
        {%- endfor %}
    );
    create table if not exists ledger.final_invoices (
        invoice_id {{ dbt.type_string() }},
        account_id {{ dbt.type_string() }},
        period_start date,
        period_end date,
        currency {{ dbt.type_string() }},
        subtotal {{ usage_billing.type_money() }},
        credits_applied {{ usage_billing.type_money() }},
        total {{ usage_billing.type_money() }},
        line_count {{ dbt.type_int() }},
        closed_at {{ dbt.type_timestamp() }}
    );
    {#- Payment status of pushed invoices as Stripe reports it (orchestration/stripe/payments.py writes it):
        a row when a read finds an invoice new or changed, so the table is its history. Amounts in minor
        units, exactly as Stripe gives them. -#}
    create table if not exists ledger.stripe_invoice_status (
        invoice_id {{ dbt.type_string() }},
        account_id {{ dbt.type_string() }},
        stripe_invoice_id {{ dbt.type_string() }},
        currency {{ dbt.type_string() }},
        stripe_status {{ dbt.type_string() }},
        amount_due_minor {{ dbt.type_bigint() }},
        amount_paid_minor {{ dbt.type_bigint() }},
        amount_remaining_minor {{ dbt.type_bigint() }},
        due_date date,
        finalized_at {{ dbt.type_timestamp() }},
        paid_at {{ dbt.type_timestamp() }},
        read_at {{ dbt.type_timestamp() }}
    );
    {#- One row per status read, changed or not: how fresh the statuses are. -#}
    create table if not exists ledger.stripe_status_reads (
        read_at {{ dbt.type_timestamp() }},
        invoices_read {{ dbt.type_int() }},
        invoices_changed {{ dbt.type_int() }},
        errors {{ dbt.type_int() }}
    );
{%- endmacro %}

{% macro default__create_ledger_tables() %}
    {{ usage_billing.ledger_table_ddl() }}
{% endmacro %}

{#- Spark runs one statement per call: each one on its own, and nothing left for the hook to run. -#}
{% macro spark__create_ledger_tables() %}
    {%- if execute -%}
        {%- for ddl in usage_billing.ledger_table_ddl().split(';') if ddl | trim != '' -%}
            {%- do run_query(ddl) -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}

{#- P13: freeze the invoices of account periods that start in `period` (YYYY-MM) and whose grace window
    (grace_days after the period end) has passed at `now` (or all of them with force), copying their lines
    and totals from the marts into the ledger. Already closed invoices are left as they are. Returns nothing;
    logs one line per invoice closed and per invoice still in its grace window. -#}
{% macro close_billing_periods(period, force=false, grace_days=3, now=none) %}
    {%- set periods = [period] if period is string else period -%}
    {%- for one in periods -%}
        {%- do usage_billing.close_billing_period(one, force, grace_days, now) -%}
    {%- endfor -%}
{% endmacro %}

{% macro close_billing_period(period, force, grace_days, now) %}
    {%- if not (period is string and period | length == 7 and period[4] == '-') -%}
        {{ exceptions.raise_compiler_error("close: period must be YYYY-MM, got " ~ period) }}
    {%- endif -%}
    {%- set month_start = period ~ '-01' -%}
    {%- set now_literal = usage_billing.sql_string(now) if now else none -%}
    {%- set now_sql = "cast(" ~ now_literal ~ " as " ~ dbt.type_timestamp() ~ ")" if now else dbt.current_timestamp() -%}
    {%- set month_sql = "cast(" ~ usage_billing.sql_string(month_start) ~ " as date)" -%}
    {%- set candidates -%}
        select
            invoices.invoice_id,
            invoices.account_id,
            invoices.period_start,
            invoices.period_end,
            {{ dbt.dateadd('day', grace_days | int, 'invoices.period_end') }} <= {{ now_sql }} as is_past_grace
        from {{ ref('fct_invoices') }} as invoices
        where invoices.status = 'open'
            and invoices.period_start >= {{ month_sql }}
            and invoices.period_start < {{ dbt.dateadd('month', 1, month_sql) }}
            and invoices.invoice_id not in (select invoice_id from ledger.final_invoices)
    {%- endset -%}
    {%- set found = run_query(candidates ~ ' order by account_id') -%}
    {%- set closing = [] -%}
    {%- for row in found.rows -%}
        {%- if force or row['is_past_grace'] -%}
            {%- do closing.append(row['invoice_id']) -%}
            {{ log('close: ' ~ row['account_id'] ~ ' ' ~ row['period_start'] ~ ' – ' ~ row['period_end'] ~ ' (' ~ row['invoice_id'] ~ ')', info=true) }}
        {%- else -%}
            {{ log('close: skipped ' ~ row['account_id'] ~ ' ' ~ row['period_start'] ~ ' – ' ~ row['period_end'] ~ ': grace window of ' ~ grace_days ~ ' days after the period end has not passed (use --force)', info=true) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if closing | length > 0 -%}
        {%- set ids = [] -%}
        {%- for id in closing -%}{%- do ids.append(usage_billing.sql_string(id)) -%}{%- endfor -%}
        {%- set columns = usage_billing.ledger_column_types().keys() | list -%}
        {%- call statement('close_periods') -%}
            insert into ledger.final_invoice_lines ({{ columns | join(', ') }})
            select
                {%- for name in columns %}
                {{ now_sql if name == 'closed_at' else 'lines.' ~ name }}{{ ',' if not loop.last }}
                {%- endfor %}
            from {{ ref('fct_invoice_lines') }} as lines
            where lines.invoice_id in ({{ ids | join(', ') }})
                and lines.invoice_id not in (select invoice_id from ledger.final_invoices);
            insert into ledger.final_invoices
            select
                invoices.invoice_id, invoices.account_id, invoices.period_start, invoices.period_end,
                invoices.currency, invoices.subtotal, invoices.credits_applied, invoices.total,
                invoices.line_count, {{ now_sql }}
            from {{ ref('fct_invoices') }} as invoices
            where invoices.invoice_id in ({{ ids | join(', ') }})
                and invoices.invoice_id not in (select invoice_id from ledger.final_invoices);
        {%- endcall -%}
        {%- do adapter.commit() -%}
    {%- endif -%}
    {{ log('close: ' ~ (closing | length) ~ ' invoice(s) closed for ' ~ period ~ ', '
        ~ (found.rows | length - closing | length) ~ ' still in their grace window', info=true) }}
{% endmacro %}
