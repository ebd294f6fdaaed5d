{#- E1: every raw line that failed validation, with its exact text and the first rule it broke. -#}
with

staged_lines as (

    select * from {{ ref('stg_raw_events__usage_events') }}
    where not is_valid

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
