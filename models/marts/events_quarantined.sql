{#- E1: every raw line that failed validation, with its exact text and the first rule it broke.
    Incremental (append): staging never changes a line it loaded, so a run adds the lines it loaded. -#}
{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail') }}
with

staged_lines as (

    select * from {{ ref('stg_raw_events__usage_events') }}
    where
        not is_valid
        {%- if is_incremental() %}
        and loaded_at > {{ usage_billing.loaded_through(this, 'loaded_at') }}
        {%- endif %}

),

final as (

    select
        source_file,
        line_number,
        raw,
        invalid_reason as reason,
        loaded_at
    from staged_lines

)

select * from final
