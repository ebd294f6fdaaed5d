{#- E3 conservation, per source file: rows read = valid (kept) + duplicates + quarantined.
    A file's duplicates can change when a later file brings an earlier copy of one of its events. -#}
with

staged_lines as (

    select * from {{ ref('stg_raw_events__usage_events') }}

),

kept_events as (

    select * from {{ ref('int_usage_events_deduplicated') }}

),

-- Each file's lines: read, valid, quarantined (one pass over staging, no join).
lines_per_file as (

    select
        source_file,
        count(*) as rows_read,
        sum(case when is_valid then 1 else 0 end) as rows_valid_lines,
        sum(case when not is_valid then 1 else 0 end) as rows_quarantined,
        min(loaded_at) as loaded_at
    from staged_lines
    group by source_file

),

kept_per_file as (

    select
        source_file,
        count(*) as rows_kept
    from kept_events
    group by source_file

),

-- Conflicting duplicates: only events that have duplicates are joined back to their lines.
conflicts_per_file as (

    select
        staged_lines.source_file,
        count(*) as rows_conflict
    from staged_lines
    inner join kept_events
        on staged_lines.event_id = kept_events.event_id
        and kept_events.duplicate_count > 0
    where staged_lines.is_valid
        and staged_lines.content_hash <> kept_events.content_hash
    group by staged_lines.source_file

),

final as (

    select
        lines_per_file.source_file,
        cast(lines_per_file.rows_read as {{ dbt.type_bigint() }}) as rows_read,
        cast(coalesce(kept_per_file.rows_kept, 0) as {{ dbt.type_bigint() }}) as rows_valid,
        cast(lines_per_file.rows_valid_lines - coalesce(kept_per_file.rows_kept, 0) as {{ dbt.type_bigint() }}) as rows_duplicate,
        cast(coalesce(conflicts_per_file.rows_conflict, 0) as {{ dbt.type_bigint() }}) as rows_conflict,
        cast(lines_per_file.rows_quarantined as {{ dbt.type_bigint() }}) as rows_quarantined,
        lines_per_file.loaded_at
    from lines_per_file
    left join kept_per_file
        on lines_per_file.source_file = kept_per_file.source_file
    left join conflicts_per_file
        on lines_per_file.source_file = conflicts_per_file.source_file

)

select * from final
