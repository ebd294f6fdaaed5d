{#- Whole-string regular expression match (RE2 on DuckDB, Java on Spark: the patterns used here are
    valid in both). Spark gets a raw string literal (r'...'): its ordinary literals drop a backslash
    before an unknown escape such as \s. -#}
{% macro regex_matches(text, pattern) %}
    {{ return(adapter.dispatch('regex_matches', 'usage_billing')(text, pattern)) }}
{% endmacro %}
{% macro duckdb__regex_matches(text, pattern) -%}
    regexp_full_match({{ text }}, '{{ pattern }}')
{%- endmacro %}
{% macro spark__regex_matches(text, pattern) -%}
    ({{ text }} rlike r'^(?:{{ pattern }})$')
{%- endmacro %}

{#- Does the pattern match anywhere in the text (DuckDB regexp_matches)? -#}
{% macro regex_contains(text, pattern) %}
    {{ return(adapter.dispatch('regex_contains', 'usage_billing')(text, pattern)) }}
{% endmacro %}
{% macro duckdb__regex_contains(text, pattern) -%}
    regexp_matches({{ text }}, '{{ pattern }}')
{%- endmacro %}
{% macro spark__regex_contains(text, pattern) -%}
    ({{ text }} rlike r'{{ pattern }}')
{%- endmacro %}
