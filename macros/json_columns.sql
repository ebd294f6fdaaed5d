{#- The items of a struct from json_extract_fields or json_extract_typed as columns, one per key in
    the order given, each named <key><suffix>: the select-list entries, comma-separated. -#}
{% macro json_fields_columns(fields, keys, suffix) -%}
    {%- for key in keys %}
        {{ usage_billing.json_fields_item(fields, loop.index) }} as {{ key }}{{ suffix }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
