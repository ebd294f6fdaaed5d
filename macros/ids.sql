{#- Deterministic ids: the same (account, period) always gives the same invoice id, and the same
    line of it the same line id, whatever run or engine built it. -#}
{% macro invoice_id(account_id, period_start) -%}
    {{ dbt.concat(["'in_'", "substring(" ~ dbt.hash(dbt.concat([account_id, "'|'", "cast(" ~ period_start ~ " as " ~ dbt.type_string() ~ ")"])) ~ ", 1, 24)"]) }}
{%- endmacro %}

{% macro invoice_line_id(parts) -%}
    {%- set cols = [] -%}
    {%- for p in parts -%}
        {%- do cols.append("coalesce(cast(" ~ p ~ " as " ~ dbt.type_string() ~ "), '')") -%}
        {%- if not loop.last %}{% do cols.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.concat(["'il_'", "substring(" ~ dbt.hash(dbt.concat(cols)) ~ ", 1, 24)"]) }}
{%- endmacro %}
