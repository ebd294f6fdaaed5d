{#- Raw event files (CONTRACT.md §1). Files are listed at compile time and reach SQL only as
    quoted literals (§4a), so a quote or semicolon in a path can neither break nor extend a query. -#}

{% macro sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro event_file_format(path) -%}
    {%- set p = path | lower -%}
    {%- if p.endswith('.parquet') -%}parquet
    {%- elif p.endswith('.ndjson') or p.endswith('.jsonl') or p.endswith('.ndjson.gz') or p.endswith('.jsonl.gz') -%}ndjson
    {%- else -%}{%- endif -%}
{%- endmacro %}

{#- All event files the glob matches, in the order the glob returns them. -#}
{% macro list_event_files(glob) %}
    {{ return(adapter.dispatch('list_event_files', 'usage_billing')(glob)) }}
{% endmacro %}

{% macro duckdb__list_event_files(glob) %}
    {% if not execute %}{{ return([]) }}{% endif %}
    {% set result = run_query("select file from glob(" ~ usage_billing.sql_string(glob) ~ ") order by file") %}
    {% set files = [] %}
    {% for row in result.rows %}
        {% if usage_billing.event_file_format(row[0]) | trim != '' %}
            {% do files.append(row[0]) %}
        {% endif %}
    {% endfor %}
    {{ return(files) }}
{% endmacro %}

{#- Files matched by the glob that the given relation has not loaded yet (incremental by file). -#}
{% macro new_event_files(glob, loaded_relation=none) %}
    {% set files = usage_billing.list_event_files(glob) %}
    {% if loaded_relation is none or not execute %}{{ return(files) }}{% endif %}
    {% set loaded = run_query("select distinct source_file from " ~ loaded_relation) %}
    {% set seen = loaded.columns[0].values() | list %}
    {% set fresh = [] %}
    {% for f in files %}
        {% if f not in seen %}{% do fresh.append(f) %}{% endif %}
    {% endfor %}
    {{ return(fresh) }}
{% endmacro %}

{#- One row per line of each file: source_file, line_number (1-based, physical), raw (null for a
    blank line). Parquet rows become their JSON object text so that one validation path serves both. -#}
{% macro read_event_lines(files) %}
    {{ return(adapter.dispatch('read_event_lines', 'usage_billing')(files)) }}
{% endmacro %}

{% macro duckdb__read_event_lines(files) %}
    {%- if files | length == 0 %}
    select
        cast(null as varchar) as source_file,
        cast(null as bigint) as line_number,
        cast(null as varchar) as raw
    where 1 = 0
    {%- endif %}
    {%- for f in files %}
    {% if not loop.first %} union all {% endif %}
        {%- if usage_billing.event_file_format(f) | trim == 'parquet' %}
    select
        {{ usage_billing.sql_string(f) }} as source_file,
        cast(file_row_number + 1 as bigint) as line_number,
        cast(to_json(
            struct_pack(
                event_id := event_id, account_id := account_id, meter := meter, units := units,
                "timestamp" := "timestamp", endpoint := endpoint, status_code := status_code,
                properties := properties, metadata := metadata
            )
        ) as varchar) as raw
    from {{ usage_billing.parquet_event_columns(f) }}
        {%- else %}
    {#- A one-column CSV read with the ASCII record separator as delimiter keeps each line's exact
        text; ordinality gives its physical line number (a blank line arrives as null). -#}
    select
        {{ usage_billing.sql_string(f) }} as source_file,
        cast(ordinality as bigint) as line_number,
        raw
    from read_csv(
        {{ usage_billing.sql_string(f) }},
        columns = {'raw': 'VARCHAR'},
        header = false,
        delim = '\x1e',
        quote = '',
        escape = '',
        auto_detect = false,
        compression = 'auto'
    ) with ordinality
        {%- endif %}
    {%- endfor %}
{% endmacro %}

{#- A Parquet file may lack optional columns: select the ones it has, null for the rest. -#}
{% macro parquet_event_columns(f) %}
    {%- set wanted = ['event_id', 'account_id', 'customer_id', 'user_id', 'meter', 'event_name', 'units', 'quantity',
                      'timestamp', 'endpoint', 'status_code', 'properties', 'metadata'] -%}
    {%- set described = run_query("select name from parquet_schema(" ~ usage_billing.sql_string(f) ~ ")") if execute else none -%}
    {%- set have = (described.columns[0].values() | list) if described is not none else [] -%}
    (
        select
            file_row_number,
            {%- if 'event_id' in have %} event_id{% else %} cast(null as varchar) as event_id{% endif %},
            coalesce(
                {%- for c in ['account_id', 'customer_id', 'user_id'] if c in have %}cast({{ c }} as varchar), {% endfor -%}
                cast(null as varchar)
            ) as account_id,
            {%- if 'meter' in have %} meter{% elif 'event_name' in have %} event_name as meter{% else %} cast(null as varchar) as meter{% endif %},
            {%- if 'units' in have %} cast(units as varchar) as units{% elif 'quantity' in have %} cast(quantity as varchar) as units{% else %} cast(null as varchar) as units{% endif %},
            {%- if 'timestamp' in have %} cast("timestamp" as varchar) as "timestamp"{% else %} cast(null as varchar) as "timestamp"{% endif %},
            {%- if 'endpoint' in have %} endpoint{% else %} cast(null as varchar) as endpoint{% endif %},
            {%- if 'status_code' in have %} status_code{% else %} cast(null as integer) as status_code{% endif %},
            {%- if 'properties' in have %} try_cast(properties as json) as properties{% else %} cast(null as json) as properties{% endif %},
            {%- if 'metadata' in have %} try_cast(metadata as json) as metadata{% else %} cast(null as json) as metadata{% endif %}
        from read_parquet({{ usage_billing.sql_string(f) }}, file_row_number = true)
    )
{% endmacro %}
