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

{#- The items of a struct from json_extract_fields or json_extract_typed as columns, one per key in
    the order given, each named <key><suffix>: the select-list entries, comma-separated. -#}
{% macro json_fields_columns(fields, keys, suffix) -%}
    {%- for key in keys %}
        {{ usage_billing.json_fields_item(fields, loop.index) }} as {{ key }}{{ suffix }}{{ ',' if not loop.last }}
    {%- endfor %}
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

{#- Spark: a line is parsed once as a VARIANT (try_parse_json: validity and JSON types) and the text of
    its values is read with get_json_object, which writes values back the way DuckDB does (object keys in
    their order, numbers as parsed: "1.0" stays apart from "1"); VARIANT does not (it sorts keys and drops
    fraction zeros). get_json_object unquotes strings, so strings are written back quoted from the VARIANT.
    The type of normalised JSON text is its first character, which is cheap. -#}
{% macro spark__json_type_from_text(json_text) -%}
    case coalesce(regexp_extract({{ json_text }}, r'^[ \t\r\n]*(.)', 1), '')
        when '{' then 'OBJECT'
        when '[' then 'ARRAY'
        when '"' then 'VARCHAR'
        when 't' then 'BOOLEAN'
        when 'f' then 'BOOLEAN'
        when 'n' then 'NULL'
        when '' then null
        else 'NUMBER'
    end
{%- endmacro %}

{#- DuckDB reads the non-standard numbers NaN and Infinity; Spark's parsers reject them. A line that fails to
    parse is parsed again with such tokens (after ':', '[' or ',') written as strings marked by a leading
    \u0001, which spark__json_fragment turns back into the bare token (a NUMBER, as on DuckDB). -#}
{% macro spark__json_with_marked_non_numbers(text) -%}
    regexp_replace({{ text }}, r'([:\[,]\s*)([-+]?(?:NaN|Infinity))(\s*[,\]}])', r'$1"\\u0001$2"$3')
{%- endmacro %}

{% macro spark__json_parsed(text) -%}
    coalesce(try_parse_json({{ text }}), try_parse_json({{ usage_billing.spark__json_with_marked_non_numbers(text) }}))
{%- endmacro %}

{% macro spark__json_root_type(text) -%}
    case when {{ usage_billing.spark__json_parsed(text) }} is not null then {{ usage_billing.spark__json_type_from_text(text) }} end
{%- endmacro %}

{#- The JSON text of a value found in a VARIANT, given the same value's get_json_object text. -#}
{% macro spark__json_fragment(value_variant, value_text) -%}
    case substring(schema_of_variant({{ value_variant }}), 1, 6)
        when 'VOID' then null
        when 'STRING' then case
            when startswith(variant_get({{ value_variant }}, '$', 'string'), '\u0001')
                then substring(variant_get({{ value_variant }}, '$', 'string'), 2)
            else to_json({{ value_variant }})
        end
        else {{ value_text }}
    end
{%- endmacro %}

{#- Spark: an array of JSON fragments of the top-level keys, the same text DuckDB gives (null for a JSON
    null or an absent key); the lambda binds the parsed line once. -#}
{% macro spark__json_extract_fields(text, keys) -%}
    {%- set paths = [] -%}
    {%- for k in keys %}{% do paths.append('$.' ~ k) %}{% endfor -%}
    element_at(transform(array(try_parse_json({{ text }})), parsed -> case when parsed is not null then array(
        {%- for p in paths %}
        {{ usage_billing.spark__json_fragment("variant_get(parsed, '" ~ p ~ "')", "get_json_object(" ~ text ~ ", '" ~ p ~ "')") }}{{ ',' if not loop.last }}
        {%- endfor %}
    ) else element_at(transform(
        array({{ usage_billing.spark__json_with_marked_non_numbers(text) }}),
        marked -> case when try_parse_json(marked) is not null then array(
        {%- for p in paths %}
        {{ usage_billing.spark__json_fragment("variant_get(try_parse_json(marked), '" ~ p ~ "')", "get_json_object(marked, '" ~ p ~ "')") }}{{ ',' if not loop.last }}
        {%- endfor %}
    ) end), 1) end), 1)
{%- endmacro %}

{% macro spark__json_fields_item(fields, i) -%}
    element_at({{ fields }}, {{ i }})
{%- endmacro %}

{% macro spark__json_type_of(fragment) -%}
    {{ usage_billing.spark__json_type_from_text(fragment) }}
{%- endmacro %}

{% macro spark__json_text(fragment) -%}
    case
        when {{ fragment }} = 'null' then null
        when substring({{ fragment }}, 1, 1) = '"' then get_json_object('[' || {{ fragment }} || ']', '$[0]')
        else {{ fragment }}
    end
{%- endmacro %}

{#- Spark: the key is a column, and a VARIANT path must be a literal, so the member is found in the
    object as a map of VARIANTs; a JSON null is null, as on DuckDB. -#}
{% macro spark__json_member_text(json_text, key) -%}
    nullif({{ usage_billing.spark__json_fragment(
        "element_at(try_cast(try_parse_json(" ~ json_text ~ ") as map<string, variant>), " ~ key ~ ")",
        "get_json_object(" ~ json_text ~ ", '$[''' || replace(" ~ key ~ ", '''', '') || ''']')") }}, 'null')
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
