{#- Spark-only adapter behaviour the models rely on (dbt-spark 1.11, session mode, no Delta/Iceberg). -#}

{#- Seeds. dbt-spark's session cursor splices bindings into the SQL as text: a blank cell arrives as the
    string 'None', a quote breaks the statement and decimals go through floats. The catalog is money, so
    on Spark each value is written as an exact SQL literal instead. -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}null
    {%- elif value is sameas true -%}true
    {%- elif value is sameas false -%}false
    {%- elif value is number -%}{{ value }}
    {%- else -%}'{{ value | string | replace('\\', '\\\\') | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}

{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for name in agate_table.column_names -%}
        {%- do types.append(column_override.get(name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {%- for row in chunk %}
            ({% for value in row %}cast({{ usage_billing.spark_seed_literal(value) }} as {{ types[loop.index0] }}){{ ', ' if not loop.last }}{% endfor %}){{ ',' if not loop.last }}
            {%- endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- do statements.append(sql) -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}

{#- Incremental strategies. dbt-spark offers merge only on Delta, Iceberg or Hudi, and insert_overwrite
    without partitions replaces the whole table with the new rows. Without those formats delete+insert
    (the dedupe) and the rollups' strategies (macros/rollups.sql) rewrite the table as its kept rows plus
    the new ones (usage_billing.replace_rows). Correct, and a full rewrite of the table per run. -#}
{#- These two replace dbt-spark's macros of the same name (the root project's take precedence). -#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- set supported = [
        'append', 'insert_overwrite', 'delete+insert', 'rollup_upsert', 'replace_changed_periods',
        'replace_crossing_periods', 'replace_redecided_events',
    ] -%}
    {%- if raw_strategy not in supported -%}
        {{ exceptions.raise_compiler_error('usage_billing on Spark supports the incremental strategies '
            ~ supported | join(', ') ~ ' (without Delta or Iceberg), not ' ~ raw_strategy) }}
    {%- endif -%}
    {{ return(raw_strategy) }}
{% endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
    {%- if strategy == 'append' -%}
        {{ return(get_insert_into_sql(source, target)) }}
    {%- elif strategy == 'insert_overwrite' -%}
        {{ return(get_insert_overwrite_sql(source, target, existing)) }}
    {%- endif -%}
    {%- set arg_dict = {
        'target_relation': target, 'temp_relation': source, 'unique_key': unique_key,
        'dest_columns': adapter.get_columns_in_relation(target),
    } -%}
    {%- if strategy == 'rollup_upsert' -%}
        {{ return(usage_billing.get_incremental_rollup_upsert_sql(arg_dict)) }}
    {%- elif strategy == 'replace_changed_periods' -%}
        {{ return(usage_billing.get_incremental_replace_changed_periods_sql(arg_dict)) }}
    {%- elif strategy == 'replace_crossing_periods' -%}
        {{ return(usage_billing.get_incremental_replace_crossing_periods_sql(arg_dict)) }}
    {%- elif strategy == 'replace_redecided_events' -%}
        {{ return(usage_billing.get_incremental_replace_redecided_events_sql(arg_dict)) }}
    {%- endif -%}
    {%- if unique_key is none -%}
        {{ exceptions.raise_compiler_error('delete+insert needs a unique_key') }}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set replaced -%}
        exists (
            select 1 from {{ source }} as new_rows
            where {% for k in keys %}new_rows.{{ k }} = existing_rows.{{ k }}{{ ' and ' if not loop.last }}{% endfor %}
        )
    {%- endset -%}
    {{ return(usage_billing.replace_rows(target, source, arg_dict['dest_columns'] | map(attribute='name') | list, replaced, 'true')) }}
{% endmacro %}
