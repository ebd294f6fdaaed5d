{#- Regular expressions (RE2 on DuckDB, Java on Spark: the patterns used here are valid in both). -#}
{% macro regex_matches(text, pattern) %}
    {{ return(adapter.dispatch('regex_matches', 'usage_billing')(text, pattern)) }}
{% endmacro %}
{% macro duckdb__regex_matches(text, pattern) -%}
    regexp_full_match({{ text }}, '{{ pattern }}')
{%- endmacro %}
{% macro spark__regex_matches(text, pattern) -%}
    ({{ text }} rlike '^(?:{{ pattern }})$')
{%- endmacro %}

{% macro regex_group(text, pattern, group) %}
    {{ return(adapter.dispatch('regex_group', 'usage_billing')(text, pattern, group)) }}
{% endmacro %}
{% macro default__regex_group(text, pattern, group) -%}
    nullif(regexp_extract({{ text }}, '{{ pattern }}', {{ group }}), '')
{%- endmacro %}
