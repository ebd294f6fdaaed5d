{{ config(meta={'dagster': {'ref': {'name': 'event_conflicts'}}}) }}
-- E2: event_conflicts lists, for each kept event, exactly as many lines as the dedupe counted as its
-- conflicting copies (conflict_count), and no line of an event the dedupe found no conflict for.
-- The two are derived apart: the dedupe compares each id's copies among themselves, event_conflicts joins the
-- staged lines of every event that has duplicates back to its kept copy (and event_reconciliation counts
-- its rows_conflict from event_conflicts). In a build: the events this run re-decided (macros/check_scope.sql).
with

listed as (

    select
        event_id,
        count(*) as conflict_rows
    from {{ ref('event_conflicts') }}
    where event_id in (select event_id from {{ ref('int_usage_events_deduplicated') }} where {{ usage_billing.loaded_in_this_run('last_loaded_at') }})
    group by event_id

),

counted as (

    select
        event_id,
        conflict_count as conflict_rows
    from {{ ref('int_usage_events_deduplicated') }}
    where conflict_count > 0 and {{ usage_billing.loaded_in_this_run('last_loaded_at') }}

)

select
    coalesce(listed.event_id, counted.event_id) as event_id,
    listed.conflict_rows as listed_conflicts,
    counted.conflict_rows as counted_conflicts
from listed
full outer join counted
    on listed.event_id = counted.event_id
where listed.conflict_rows is null
    or counted.conflict_rows is null
    or listed.conflict_rows <> counted.conflict_rows
