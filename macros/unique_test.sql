{#- dbt's built-in `unique` test on DuckDB, in two passes like `unique_combination`: values are first
    grouped by a 64-bit hash (8 bytes a row instead of the value), and only rows whose hash repeats are
    grouped by the value itself. A repeated value has a repeated hash, so none is missed; a collision only
    sends distinct values to the exact grouping. Same result rows as dbt's own (nulls ignored). On the
    dedupe's 10M event ids: 1.0–1.4 s → 0.75–0.85 s. dbt finds it before its own `default__test_unique`
    because the root project is searched first for the `dbt` namespace. -#}
{% macro duckdb__test_unique(model, column_name) %}

with

repeated_hashes as (

    select {{ usage_billing.id_hash(column_name) }} as value_hash
    from {{ model }}
    where {{ column_name }} is not null
    group by {{ usage_billing.id_hash(column_name) }}
    having count(*) > 1

)

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
    and {{ usage_billing.id_hash(column_name) }} in (select value_hash from repeated_hashes)
group by {{ column_name }}
having count(*) > 1

{% endmacro %}
