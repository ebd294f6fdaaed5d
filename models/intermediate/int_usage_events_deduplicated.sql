{#- E2: one row per event_id over every batch ever loaded. Among valid copies the earliest UTC
    timestamp wins, ties go to the smaller (source file path, line number), so the result does
    not depend on the order files were loaded in. Incremental: only ids that appear in rows loaded
    since the last run are re-decided, against all their copies (delete+insert by event_id). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
    )
}}

with

staged_events as (

    select * from {{ ref('stg_raw_events__usage_events') }}
    where is_valid

),

{% if is_incremental() %}
touched_event_ids as (

    select distinct event_id
    from staged_events
    where loaded_at > (select coalesce(max(last_loaded_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }})

),

candidate_copies as (

    select staged_events.*
    from staged_events
    inner join touched_event_ids
        on staged_events.event_id = touched_event_ids.event_id

),
{% else %}
candidate_copies as (

    select * from staged_events

),
{% endif %}

ranked_copies as (

    select
        candidate_copies.*,
        row_number() over (
            partition by event_id
            order by event_at, source_file, line_number
        ) as copy_rank,
        count(*) over (partition by event_id) as copy_count,
        max(loaded_at) over (partition by event_id) as last_loaded_at
    from candidate_copies

),

kept_copies as (

    select * from ranked_copies
    where copy_rank = 1

),

-- A duplicate whose normalised content differs from the kept copy is a conflict (§3a).
conflict_counts as (

    select
        ranked_copies.event_id,
        count(*) as conflict_count
    from ranked_copies
    inner join kept_copies
        on ranked_copies.event_id = kept_copies.event_id
    where ranked_copies.copy_rank > 1
        and ranked_copies.content_hash <> kept_copies.content_hash
    group by ranked_copies.event_id

),

final as (

    select
        kept_copies.event_id,
        kept_copies.account_id,
        kept_copies.meter,
        kept_copies.units,
        kept_copies.event_at,
        kept_copies.endpoint,
        kept_copies.status_code,
        kept_copies.properties,
        kept_copies.metadata,
        kept_copies.content_hash,
        kept_copies.source_file,
        kept_copies.line_number,
        kept_copies.copy_count - 1 as duplicate_count,
        coalesce(conflict_counts.conflict_count, 0) as conflict_count,
        kept_copies.last_loaded_at
    from kept_copies
    left join conflict_counts
        on kept_copies.event_id = conflict_counts.event_id

)

select * from final
