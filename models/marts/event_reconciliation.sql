{#- E3 conservation, per source file: rows read = valid (kept) + duplicates + quarantined.
    A file's duplicates can change when a later file brings an earlier copy of one of its events. -#}
with

staged_lines as (

    select * from {{ ref('stg_raw_events__usage_events') }}

),

kept_events as (

    select * from {{ ref('int_usage_events_deduplicated') }}

),

conflicting_lines as (

    select * from {{ ref('event_conflicts') }}

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

-- Conflicting duplicates: the lines event_conflicts lists (a valid copy whose content differs from
-- the kept one). Counted from that table instead of joining staging to the kept events again here: each
-- input is then read once, in one stream, instead of being buffered for two consumers.
conflicts_per_file as (

    select
        source_file,
        count(*) as rows_conflict
    from conflicting_lines
    group by source_file

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
