{#- JSON access behind adapter.dispatch. A raw line is parsed once into the fragments the contract reads
    (json_extract_fields); types and values are then read from those small fragments.
    json_type_of returns one of 'OBJECT', 'ARRAY', 'VARCHAR', 'BOOLEAN', 'NUMBER', 'NULL' (a JSON null),
    or null when the key was absent. -#}

{#- The type of the whole line's JSON value; null when the line is not valid JSON. -#}
{% macro json_root_type(text) %}
    {{ return(adapter.dispatch('json_root_type', 'usage_billing')(text)) }}
{% endmacro %}
{% macro duckdb__json_root_type(text) -%}
    case when json_valid({{ text }}) then json_type({{ text }}) end
{%- endmacro %}

{#- The JSON text of each path, in one parse (a list on DuckDB); null when the line is not valid JSON. -#}
{% macro json_extract_fields(text, paths) %}
    {{ return(adapter.dispatch('json_extract_fields', 'usage_billing')(text, paths)) }}
{% endmacro %}
{% macro duckdb__json_extract_fields(text, paths) -%}
    case when json_valid({{ text }}) then json_extract({{ text }}, [
        {%- for p in paths %}'{{ p }}'{{ ', ' if not loop.last }}{% endfor -%}
    ]) end
{%- endmacro %}

{#- Item i (1-based) of json_extract_fields, as JSON text. -#}
{% macro json_fields_item(fields, i) %}
    {{ return(adapter.dispatch('json_fields_item', 'usage_billing')(fields, i)) }}
{% endmacro %}
{% macro duckdb__json_fields_item(fields, i) -%}
    cast({{ fields }}[{{ i }}] as varchar)
{%- endmacro %}

{% macro json_type_of(fragment) %}
    {{ return(adapter.dispatch('json_type_of', 'usage_billing')(fragment)) }}
{% endmacro %}
{% macro duckdb__json_type_of(fragment) -%}
    case json_type(cast({{ fragment }} as json))
        when 'UBIGINT' then 'NUMBER'
        when 'BIGINT' then 'NUMBER'
        when 'DOUBLE' then 'NUMBER'
        when 'HUGEINT' then 'NUMBER'
        when 'OBJECT' then 'OBJECT'
        when 'ARRAY' then 'ARRAY'
        when 'VARCHAR' then 'VARCHAR'
        when 'BOOLEAN' then 'BOOLEAN'
        when 'NULL' then 'NULL'
    end
{%- endmacro %}

{#- A scalar fragment as text: strings unquoted, numbers as the engine writes them. -#}
{% macro json_text(fragment) %}
    {{ return(adapter.dispatch('json_text', 'usage_billing')(fragment)) }}
{% endmacro %}
{% macro duckdb__json_text(fragment) -%}
    (cast({{ fragment }} as json) ->> '$')
{%- endmacro %}

{#- The JSON text of member `key` (a column or expression, never spliced in as text) of a JSON object
    held as text, e.g. '"u_17"', '1' or '1.0'; null when the member is absent or a JSON null.
    DuckDB writes the value back normalised (escapes decoded, trailing fraction zeros after the first
    dropped), so '"\u0041"' and '"A"' are one value but '1' and '1.0' stay two (§3a). -#}
{% macro json_member_text(json_text, key) %}
    {{ return(adapter.dispatch('json_member_text', 'usage_billing')(json_text, key)) }}
{% endmacro %}
{% macro duckdb__json_member_text(json_text, key) -%}
    nullif(cast(json_extract(cast({{ json_text }} as json), '$."' || replace({{ key }}, '"', '\"') || '"') as varchar), 'null')
{%- endmacro %}

{#- P3: what a unique_count meter counts for one event: its endpoint, or the JSON text of
    properties.<key>; null for other meters (and ignored when counting). -#}
{% macro unique_value(events, meters) -%}
    case
        when {{ meters }}.aggregation <> 'unique_count' then null
        when {{ meters }}.unique_field = 'endpoint' then {{ events }}.endpoint
        when {{ meters }}.unique_field like 'properties.%'
            then {{ usage_billing.json_member_text(
                events ~ '.properties', dbt.right(meters ~ '.unique_field', dbt.length(meters ~ '.unique_field') ~ ' - 11')) }}
    end
{%- endmacro %}
