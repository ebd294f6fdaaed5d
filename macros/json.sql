{#- JSON access behind dispatch: DuckDB's json functions, Spark's get_json_object / schema_of_json.
    json_field_type returns one of: 'OBJECT', 'ARRAY', 'VARCHAR', 'BOOLEAN', 'NUMBER', 'NULL'
    (JSON null), or null when the key is absent. -#}
{% macro json_is_valid(text) %}
    {{ return(adapter.dispatch('json_is_valid', 'usage_billing')(text)) }}
{% endmacro %}
{% macro duckdb__json_is_valid(text) -%}
    coalesce(json_valid({{ text }}), false)
{%- endmacro %}

{% macro json_type_of(doc, path='$') %}
    {{ return(adapter.dispatch('json_type_of', 'usage_billing')(doc, path)) }}
{% endmacro %}
{% macro duckdb__json_type_of(doc, path) -%}
    case json_type({{ doc }}, '{{ path }}')
        when 'UBIGINT' then 'NUMBER'
        when 'BIGINT' then 'NUMBER'
        when 'DOUBLE' then 'NUMBER'
        when 'HUGEINT' then 'NUMBER'
        else json_type({{ doc }}, '{{ path }}')
    end
{%- endmacro %}

{#- Text of a scalar field (strings unquoted, numbers as written by the engine). -#}
{% macro json_text(doc, path) %}
    {{ return(adapter.dispatch('json_text', 'usage_billing')(doc, path)) }}
{% endmacro %}
{% macro duckdb__json_text(doc, path) -%}
    ({{ doc }} ->> '{{ path }}')
{%- endmacro %}

{#- Compact JSON text of any field (objects kept for audit). -#}
{% macro json_raw(doc, path) %}
    {{ return(adapter.dispatch('json_raw', 'usage_billing')(doc, path)) }}
{% endmacro %}
{% macro duckdb__json_raw(doc, path) -%}
    cast(json_extract({{ doc }}, '{{ path }}') as varchar)
{%- endmacro %}

{#- Parse text into the engine's JSON value once, null when not valid JSON. -#}
{% macro json_parse(text) %}
    {{ return(adapter.dispatch('json_parse', 'usage_billing')(text)) }}
{% endmacro %}
{% macro duckdb__json_parse(text) -%}
    case when json_valid({{ text }}) then cast({{ text }} as json) end
{%- endmacro %}
