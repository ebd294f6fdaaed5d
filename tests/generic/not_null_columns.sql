{#- Required columns of a model, checked in one scan: one row per column that has nulls, with how many.
    The grain's columns keep their own not_null test next to unique (STYLE.md); this covers the rest. -#}
{% test not_null_columns(model, columns) %}
with

null_counts as (

    select
        {%- for column in columns %}
        count(case when {{ column }} is null then 1 end) as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}

)

{% for column in columns -%}
select '{{ column }}' as column_name, {{ column }} as null_rows from null_counts where {{ column }} > 0
{% if not loop.last %}union all
{% endif %}
{%- endfor %}
{% endtest %}
