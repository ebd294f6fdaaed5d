{#- JSON access behind adapter.dispatch. A raw line is parsed once into the fragments the contract reads
    (json_extract_fields); types and values are then read from those small fragments.
    json_type_of returns one of 'OBJECT', 'ARRAY', 'VARCHAR', 'BOOLEAN', 'NUMBER', 'NULL' (a JSON null),
    or null when the key was absent. -#}

{#- The type of the whole line's JSON value; null when the line is not valid JSON. -#}
{% macro json_root_type(text) %}
    {{ return(adapter.dispatch('json_root_type', 'usage_billing')(text)) }}
{% endmacro %}
{#- Validated once; the type then follows from the first character, without a second parse. -#}
{% macro duckdb__json_root_type(text) -%}
    case when json_valid({{ text }}) then {{ usage_billing.duckdb__json_type_of('ltrim(' ~ text ~ ', chr(32) || chr(9) || chr(10) || chr(13))') }} end
{%- endmacro %}

{#- The JSON text of each top-level key, in one parse: pass the keys (e.g. ['event_id', 'units']).
    A key that is absent or a JSON null gives null; so does a line that is not a valid JSON object. -#}
{% macro json_extract_fields(text, keys) %}
    {{ return(adapter.dispatch('json_extract_fields', 'usage_billing')(text, keys)) }}
{% endmacro %}
{#- json_transform parses the line once into a struct of JSON fragments (minified, numbers
    normalised); it is several times faster than a list of json_extract paths. -#}
{% macro duckdb__json_extract_fields(text, keys) -%}
    case when json_valid({{ text }}) then json_transform({{ text }}, '{
        {%- for k in keys %}"{{ k }}":"JSON"{{ ',' if not loop.last }}{% endfor -%}
    }') end
{%- endmacro %}

{#- Item i (1-based, in the order of the keys) of json_extract_fields, as JSON text. -#}
{% macro json_fields_item(fields, i) %}
    {{ return(adapter.dispatch('json_fields_item', 'usage_billing')(fields, i)) }}
{% endmacro %}
{% macro duckdb__json_fields_item(fields, i) -%}
    cast(struct_extract_at({{ fields }}, {{ i }}) as varchar)
{%- endmacro %}

{#- The type of a fragment from json_extract_fields: 'OBJECT', 'ARRAY', 'VARCHAR', 'BOOLEAN',
    'NUMBER', 'NULL', or null when the fragment is null. Fragments are minified JSON, so the first
    character tells the type. -#}
{% macro json_type_of(fragment) %}
    {{ return(adapter.dispatch('json_type_of', 'usage_billing')(fragment)) }}
{% endmacro %}
{% macro duckdb__json_type_of(fragment) -%}
    case
        when {{ fragment }} is null or {{ fragment }} = '' then null
        else case left({{ fragment }}, 1)
            when '"' then 'VARCHAR'
            when '{' then 'OBJECT'
            when '[' then 'ARRAY'
            when 't' then 'BOOLEAN'
            when 'f' then 'BOOLEAN'
            when 'n' then 'NULL'
            else 'NUMBER'
        end
    end
{%- endmacro %}

{#- A scalar fragment as text: strings unquoted (escapes decoded), numbers as the engine writes them. -#}
{% macro json_text(fragment) %}
    {{ return(adapter.dispatch('json_text', 'usage_billing')(fragment)) }}
{% endmacro %}
{#- Only a string with an escape needs the JSON decoder; others are cut out of their quotes. -#}
{% macro duckdb__json_text(fragment) -%}
    case
        when left({{ fragment }}, 1) <> '"' then {{ fragment }}
        when contains({{ fragment }}, '\') then json_extract_string({{ fragment }}, '$')
        else substring({{ fragment }}, 2, length({{ fragment }}) - 2)
    end
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
