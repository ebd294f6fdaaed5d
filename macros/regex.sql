{#- Whole-string regular expression match (RE2 on DuckDB, Java on Spark: the patterns used here are
    valid in both). -#}
{% macro regex_matches(text, pattern) %}
    {{ return(adapter.dispatch('regex_matches', 'usage_billing')(text, pattern)) }}
{% endmacro %}
{% macro duckdb__regex_matches(text, pattern) -%}
    regexp_full_match({{ text }}, '{{ pattern }}')
{%- endmacro %}
{% macro spark__regex_matches(text, pattern) -%}
    ({{ text }} rlike '^(?:{{ pattern }})$')
{%- endmacro %}
