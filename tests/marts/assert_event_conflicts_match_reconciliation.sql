{{ config(meta={'dagster': {'ref': {'name': 'event_conflicts'}}}) }}
-- E2: the conflicts listed in event_conflicts are exactly the ones event_reconciliation counts.
with

listed as (

    select count(*) as conflict_rows from {{ ref('event_conflicts') }}

),

counted as (

    select coalesce(sum(rows_conflict), 0) as conflict_rows from {{ ref('event_reconciliation') }}

)

select
    listed.conflict_rows as listed_conflicts,
    counted.conflict_rows as counted_conflicts
from listed
cross join counted
where listed.conflict_rows <> counted.conflict_rows
