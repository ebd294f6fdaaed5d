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

{#- Incremental delete+insert (int_usage_events_deduplicated). dbt-spark offers merge only on Delta, Iceberg
    or Hudi, and insert_overwrite without partitions replaces the whole table with the new rows. Without
    those formats the same result is built in full: the rows of the table whose key is not in the new
    batch, plus the batch, written to a side table first (Spark cannot overwrite a table that the query
    reads), then swapped in. Correct, and a full rewrite of the table per run. -#}
{#- These two replace dbt-spark's macros of the same name (the root project's take precedence); the
    strategies the project uses are append (staging) and delete+insert (dedupe). -#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy not in ['append', 'insert_overwrite', 'delete+insert'] -%}
        {{ exceptions.raise_compiler_error('usage_billing on Spark supports the incremental strategies append, '
            ~ 'insert_overwrite and delete+insert (without Delta or Iceberg), not ' ~ raw_strategy) }}
    {%- endif -%}
    {{ return(raw_strategy) }}
{% endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
    {%- if strategy == 'append' -%}
        {{ return(get_insert_into_sql(source, target)) }}
    {%- elif strategy == 'insert_overwrite' -%}
        {{ return(get_insert_overwrite_sql(source, target, existing)) }}
    {%- endif -%}
    {%- if unique_key is none -%}
        {{ exceptions.raise_compiler_error('delete+insert needs a unique_key') }}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set side = target.incorporate(path={'identifier': target.identifier ~ '__dbt_delete_insert'}) -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='name') | list -%}
    {%- do run_query('drop table if exists ' ~ side) -%}
    {%- call statement('delete_insert_side_table') -%}
        create table {{ side }} using parquet as
        select {{ columns | join(', ') }} from {{ target }} as existing_rows
        where not exists (
            select 1 from {{ source }} as new_rows
            where {% for k in keys %}new_rows.{{ k }} = existing_rows.{{ k }}{{ ' and ' if not loop.last }}{% endfor %}
        )
        union all
        select {{ columns | join(', ') }} from {{ source }}
    {%- endcall -%}
    {%- call statement('delete_insert_swap') -%}
        insert overwrite table {{ target }} select {{ columns | join(', ') }} from {{ side }}
    {%- endcall -%}
    {{ return('drop table if exists ' ~ side) }}
{% endmacro %}
