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

{#- A hash of several columns, for comparing rows of one engine with each other (never stored as an
    id, never compared across engines). On DuckDB a null hashes differently from any value;
    elsewhere it hashes like ''. -#}
{% macro row_hash(columns) %}
    {{ return(adapter.dispatch('row_hash', 'usage_billing')(columns)) }}
{% endmacro %}
{#- DuckDB's built-in 64-bit hash: about five times cheaper than md5 over the concatenated text. -#}
{% macro duckdb__row_hash(columns) -%}
    hash({{ columns | join(', ') }})
{%- endmacro %}
{% macro default__row_hash(columns) -%}
    {%- set parts = [] -%}
    {%- for c in columns -%}
        {%- do parts.append("coalesce(cast(" ~ c ~ " as " ~ dbt.type_string() ~ "), '')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{#- A hash of one id, to find ids that occur more than once without keeping the ids themselves in
    a hash table. Collisions are harmless where it is used (the ids are compared exactly after). -#}
{% macro id_hash(column) %}
    {{ return(adapter.dispatch('id_hash', 'usage_billing')(column)) }}
{% endmacro %}
{% macro duckdb__id_hash(column) -%}
    hash({{ column }})
{%- endmacro %}
{% macro spark__id_hash(column) -%}
    xxhash64({{ column }})
{%- endmacro %}
{% macro default__id_hash(column) -%}
    {{ dbt.hash(column) }}
{%- endmacro %}
