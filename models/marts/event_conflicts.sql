{#- E2 conflicts made visible: each duplicate whose normalised content (account, meter, units, UTC
    timestamp, endpoint, status) differs from the kept copy, next to the copy that was billed.
    A table (the marts' default): its three data tests read it in every build, and as a view each of
    them ran the join of all staged lines to the kept events again (three joins instead of one).
    Incremental: a run recomputes the events the dedupe re-decided since the last one (macros/rollups.sql). -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='replace_redecided_events',
        on_schema_change='fail',
        post_hook="{{ usage_billing.record_rollup_watermark('int_usage_events_deduplicated') }}",
    )
}}

with

staged_events as (

    select * from {{ ref('stg_raw_events__usage_events') }}
    where is_valid

),

kept_events as (

    -- Every kept event that has other copies, not only those the dedupe counted conflicts for: the
    -- listing is then derived apart from conflict_count, and assert_event_conflicts_match_dedupe compares them.
    select * from {{ ref('int_usage_events_deduplicated') }}
    where
        duplicate_count > 0
        {%- if is_incremental() %}
        and last_loaded_at > {{ usage_billing.rollup_absorbed_through(this) }}
        {%- endif %}

),

final as (

    select
        kept_events.event_id,
        staged_events.source_file,
        staged_events.line_number,
        staged_events.account_id,
        staged_events.meter,
        staged_events.units,
        staged_events.event_at,
        staged_events.endpoint,
        staged_events.status_code,
        kept_events.source_file as kept_source_file,
        kept_events.line_number as kept_line_number,
        kept_events.account_id as kept_account_id,
        kept_events.meter as kept_meter,
        kept_events.units as kept_units,
        kept_events.event_at as kept_event_at,
        kept_events.endpoint as kept_endpoint,
        kept_events.status_code as kept_status_code
    from kept_events
    inner join staged_events
        on kept_events.event_id = staged_events.event_id
        and staged_events.content_hash <> kept_events.content_hash

)

select * from final
