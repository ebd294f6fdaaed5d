{#- "group by 1, 2, …, n": the first n selected columns (for long select lists). -#}
{% macro group_by(n) -%}
    group by {% for i in range(1, n + 1) %}{{ i }}{{ ', ' if not loop.last }}{% endfor %}
{%- endmacro %}
