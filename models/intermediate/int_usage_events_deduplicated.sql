{#- E2: one row per event_id over every batch ever loaded. Among valid copies the earliest UTC
    timestamp wins, ties go to the smaller (source file path, line number), so the result does
    not depend on the order files were loaded in. Incremental: only ids that appear in rows loaded
    since the last run are re-decided, against all their copies (delete+insert by event_id). -#}
-- depends_on: {{ ref('int_usage_events_superseded') }}
{#- (int_usage_events_superseded logs the versions this run replaces, before it replaces them.) -#}
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

-- The same rows' ids and load times, read on their own. DuckDB buffers a CTE that several steps read, with
-- every column of every staged row: reading the ids from staged_events made an incremental run's dedupe
-- take 1.5-4.8 s and 2.6 GB instead of 0.6 s and 0.6 GB (10M staged rows, +100k), and a full build's
-- 5.3-5.7 s instead of 4.6-4.8 s.
staged_event_ids as (

    select event_id, loaded_at from {{ ref('stg_raw_events__usage_events') }}
    where is_valid

),

{% if is_incremental() %}
touched_event_ids as (

    select distinct event_id
    from staged_event_ids
    where loaded_at > {{ usage_billing.loaded_through(this, 'last_loaded_at') }}

),

candidate_copies as (

    select staged_events.*
    from staged_events
    inner join touched_event_ids
        on staged_events.event_id = touched_event_ids.event_id

),

candidate_ids as (

    select event_id from candidate_copies

),
{% else %}
candidate_copies as (

    select * from staged_events

),

candidate_ids as (

    select event_id from staged_event_ids

),
{% endif %}

-- Most ids have one copy. Ids with several are found by a hash of the id alone (8 bytes per event
-- instead of the whole row), and only their copies go through the ordering aggregate below. A hash
-- collision only sends a single copy down the slower path, where it is decided exactly by event_id.
ids_with_copies as (

    select {{ usage_billing.id_hash('event_id') }} as id_hash
    from candidate_ids
    group by {{ usage_billing.id_hash('event_id') }}
    having count(*) > 1

),

multi_copies as (

    select *
    from candidate_copies
    where {{ usage_billing.id_hash('event_id') }} in (select id_hash from ids_with_copies)

),

single_copies as (

    select *
    from candidate_copies
    where {{ usage_billing.id_hash('event_id') }} not in (select id_hash from ids_with_copies)

),

{%- set event_columns = [
    'account_id', 'meter', 'units', 'event_at', 'endpoint', 'status_code', 'properties', 'metadata',
    'content_hash', 'source_file', 'line_number',
] %}

-- One hash aggregate (not a window sort): the copy that sorts first, how many copies, when last loaded.
kept_copies as (

    select
        event_id,
        {{ usage_billing.arg_min(
            usage_billing.struct_of(event_columns),
            ['event_at', 'source_file', 'line_number']
        ) }} as kept,
        count(*) as copy_count,
        max(loaded_at) as last_loaded_at
    from multi_copies
    group by event_id

),

kept_events as (

    select
        event_id,
        {%- for column in event_columns %}
        kept.{{ column }} as {{ column }},  -- noqa: AL09
        {%- endfor %}
        copy_count,
        last_loaded_at
    from kept_copies

),

-- A duplicate whose normalised content differs from the kept copy is a conflict (§3a).
-- Only events with more than one copy are compared.
conflict_counts as (

    select
        multi_copies.event_id,
        count(*) as conflict_count
    from multi_copies
    inner join kept_events
        on multi_copies.event_id = kept_events.event_id
        and kept_events.copy_count > 1
    where multi_copies.content_hash <> kept_events.content_hash
    group by multi_copies.event_id

),

-- Both branches list event_id and event_columns in the same order (union all is by position).
final as (

    select
        kept_events.event_id,
        {%- for column in event_columns %}
        kept_events.{{ column }},
        {%- endfor %}
        kept_events.copy_count - 1 as duplicate_count,
        coalesce(conflict_counts.conflict_count, 0) as conflict_count,
        kept_events.last_loaded_at
    from kept_events
    left join conflict_counts
        on kept_events.event_id = conflict_counts.event_id

    union all

    select
        event_id,
        {%- for column in event_columns %}
        {{ column }},
        {%- endfor %}
        0 as duplicate_count,
        0 as conflict_count,
        loaded_at as last_loaded_at
    from single_copies

)

select * from final
