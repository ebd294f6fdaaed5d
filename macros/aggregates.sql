{#- Portable pieces for "the row that sorts first" as one hash aggregate instead of a window sort. -#}

{#- A struct of the given columns, each under its own name. -#}
{% macro struct_of(columns) %}
    {{ return(adapter.dispatch('struct_of', 'usage_billing')(columns)) }}
{% endmacro %}
{% macro default__struct_of(columns) -%}
    struct_pack({% for c in columns %}{{ c }} := {{ c }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}
{% macro spark__struct_of(columns) -%}
    named_struct({% for c in columns %}'{{ c }}', {{ c }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

{#- The value of the row whose order_columns sort first (ties: any of them; make the order total). -#}
{% macro arg_min(value, order_columns) %}
    {{ return(adapter.dispatch('arg_min', 'usage_billing')(value, order_columns)) }}
{% endmacro %}
{% macro default__arg_min(value, order_columns) -%}
    arg_min({{ value }}, {{ usage_billing.struct_of(order_columns) }})
{%- endmacro %}
{% macro spark__arg_min(value, order_columns) -%}
    min_by({{ value }}, {{ usage_billing.struct_of(order_columns) }})
{%- endmacro %}
