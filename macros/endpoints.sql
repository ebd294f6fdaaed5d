{#- §3a: endpoints are compared without their query string; '' is absent. -#}
{% macro endpoint_without_query(text) -%}
    nullif(case
        when {{ dbt.position("'?'", text) }} > 0
            then substring({{ text }}, 1, {{ dbt.position("'?'", text) }} - 1)
        else {{ text }}
    end, '')
{%- endmacro %}
