{#- E2 changes, logged for the rollups (macros/rollups.sql): the kept versions of int_usage_events_deduplicated
    that its next run replaces. It runs just before the dedupe and selects the ids the dedupe will
    re-decide (those with a valid copy loaded after the dedupe's last load) with their current kept
    version. The dedupe deletes and re-inserts exactly those ids, so a rollup adds the dedupe's rows
    loaded after its watermark and removes the versions superseded after it that it had absorbed.
    A version is (event_id, last_loaded_at): logging it again (a run that failed after this model) keeps
    one row, with the later superseded_at. Empty on a first run and on a --full-refresh. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['event_id', 'last_loaded_at'],
        on_schema_change='fail',
    )
}}

{%- set deduplicated = usage_billing.intermediate_relation(this, 'int_usage_events_deduplicated') %}
{%- set dedupe_exists = execute
    and adapter.get_relation(deduplicated.database, deduplicated.schema, deduplicated.identifier) is not none %}

with

staged_event_ids as (

    select event_id, loaded_at from {{ ref('stg_raw_events__usage_events') }}
    where is_valid

),

{% if dedupe_exists and not should_full_refresh() %}
kept_events as (

    select * from {{ deduplicated }}

),

touching_copies as (

    select
        event_id,
        max(loaded_at) as superseded_at
    from staged_event_ids
    where loaded_at > {{ usage_billing.loaded_through(deduplicated, 'last_loaded_at') }}
    group by event_id

),
{% else %}
kept_events as (

    select * from {{ ref('stg_raw_events__usage_events') }}
    where false

),

touching_copies as (

    select
        event_id,
        loaded_at as superseded_at
    from staged_event_ids
    where false

),
{% endif %}

superseded_versions as (

    select
        kept_events.event_id,
        kept_events.account_id,
        kept_events.meter,
        kept_events.endpoint,
        kept_events.status_code,
        kept_events.units,
        kept_events.event_at,
        kept_events.properties,
        kept_events.source_file,
        {% if dedupe_exists and not should_full_refresh() -%}
        kept_events.last_loaded_at,
        {%- else -%}
        kept_events.loaded_at as last_loaded_at,
        {%- endif %}
        touching_copies.superseded_at
    from kept_events
    inner join touching_copies
        on kept_events.event_id = touching_copies.event_id

)

select * from superseded_versions
