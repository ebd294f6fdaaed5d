{#- E3 conservation, per source file: rows read = valid (kept) + duplicates + quarantined.
    A file's duplicates can change when a later file brings an earlier copy of one of its events. -#}
with

staged_lines as (

    select * from {{ ref('stg_raw_events__usage_events') }}

),

kept_events as (

    select * from {{ ref('int_usage_events_deduplicated') }}

),

classified_lines as (

    select
        staged_lines.source_file,
        staged_lines.is_valid,
        kept_events.event_id is not null as is_kept,
        staged_lines.is_valid and kept_events.event_id is null as is_duplicate,
        staged_lines.is_valid and kept_events.event_id is null
            and staged_lines.content_hash <> kept_copies.content_hash as is_conflict,
        staged_lines.loaded_at
    from staged_lines
    left join kept_events
        on staged_lines.event_id = kept_events.event_id
        and staged_lines.source_file = kept_events.source_file
        and staged_lines.line_number = kept_events.line_number
    left join kept_events as kept_copies
        on staged_lines.event_id = kept_copies.event_id

),

final as (

    select
        source_file,
        cast(count(*) as {{ dbt.type_bigint() }}) as rows_read,
        cast(sum(case when is_kept then 1 else 0 end) as {{ dbt.type_bigint() }}) as rows_valid,
        cast(sum(case when is_duplicate then 1 else 0 end) as {{ dbt.type_bigint() }}) as rows_duplicate,
        cast(sum(case when is_conflict then 1 else 0 end) as {{ dbt.type_bigint() }}) as rows_conflict,
        cast(sum(case when not is_valid then 1 else 0 end) as {{ dbt.type_bigint() }}) as rows_quarantined,
        min(loaded_at) as loaded_at
    from classified_lines
    group by source_file

)

select * from final
