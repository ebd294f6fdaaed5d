{#- The columns of an open invoice line, in the one order every line model gives them (priced, committed,
    credit and adjustment lines are unioned by position in fct_invoice_lines). `expressions` maps a column
    to the SQL that computes it where the input has no column of that name; the rest are read as they are. -#}
{% macro invoice_line_columns(expressions={}) -%}
    {%- set columns = [
        'invoice_line_id', 'invoice_id', 'account_id', 'period_start', 'period_end', 'plan_id', 'plan_valid_from',
        'line_type', 'meter', 'endpoint', 'price_id', 'tier', 'description', 'quantity', 'unit_amount', 'amount',
        'currency', 'minor_units',
    ] -%}
    {%- for column in columns %}
        {% if column in expressions %}{{ expressions[column] }} as {{ column }}{% else %}{{ column }}{% endif %}
        {{- ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}
