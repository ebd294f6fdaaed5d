{#- E3 conservation, per source file: rows read = valid (kept) + duplicates + quarantined.
    A file's duplicates can change when a later file brings an earlier copy of one of its events.
    Incremental (one row per file, replaced by source_file): a run counts the lines of the files it loaded,
    adds to each file's kept rows the dedupe's changes since the last run (+ versions kept, - versions
    superseded: macros/rollups.sql) and recounts conflicts from event_conflicts (a small table). The
    rows_reconcile test checks the totals against staging and the dedupe in every run. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='source_file',
        on_schema_change='fail',
        post_hook="{{ usage_billing.record_rollup_watermark('int_usage_events_deduplicated') }}",
    )
}}
{%- if is_incremental() %}
    {%- set lines_loaded_through = usage_billing.loaded_through(this, 'loaded_at') %}
    {%- set kept_absorbed_through = usage_billing.rollup_absorbed_through(this) %}
{%- endif %}
with

staged_lines as (

    select * from {{ ref('stg_raw_events__usage_events') }}
    {%- if is_incremental() %}
    where loaded_at > {{ lines_loaded_through }}
    {%- endif %}

),

{% if is_incremental() -%}
-- + the versions kept since the last run, - the superseded versions that it had counted.
kept_events as (

    select source_file, 1 as kept_change
    from {{ ref('int_usage_events_deduplicated') }}
    where last_loaded_at > {{ kept_absorbed_through }}
    union all
    select source_file, -1 as kept_change
    from {{ usage_billing.intermediate_relation(this, 'int_usage_events_superseded') }}
    where superseded_at > {{ kept_absorbed_through }} and last_loaded_at <= {{ kept_absorbed_through }}

),
{%- else -%}
kept_events as (

    select source_file, 1 as kept_change from {{ ref('int_usage_events_deduplicated') }}

),
{%- endif %}

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
        sum(kept_change) as rows_kept
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

-- Every file the table knows (incremental runs) or this run loaded, with its line counts (fixed once loaded).
file_lines as (
{% if is_incremental() %}
    select
        source_file,
        rows_read,
        rows_valid + rows_duplicate as rows_valid_lines,
        rows_quarantined,
        rows_valid as rows_kept_before,
        loaded_at
    from {{ this }}
    union all
{%- endif %}
    select
        source_file,
        rows_read,
        rows_valid_lines,
        rows_quarantined,
        0 as rows_kept_before,
        loaded_at
    from lines_per_file

),

final as (

    select
        file_lines.source_file,
        cast(file_lines.rows_read as {{ dbt.type_bigint() }}) as rows_read,
        cast(file_lines.rows_kept_before + coalesce(kept_per_file.rows_kept, 0) as {{ dbt.type_bigint() }}) as rows_valid,
        cast(
            file_lines.rows_valid_lines - file_lines.rows_kept_before - coalesce(kept_per_file.rows_kept, 0)
            as {{ dbt.type_bigint() }}
        ) as rows_duplicate,
        cast(coalesce(conflicts_per_file.rows_conflict, 0) as {{ dbt.type_bigint() }}) as rows_conflict,
        cast(file_lines.rows_quarantined as {{ dbt.type_bigint() }}) as rows_quarantined,
        file_lines.loaded_at
    from file_lines
    left join kept_per_file
        on file_lines.source_file = kept_per_file.source_file
    left join conflicts_per_file
        on file_lines.source_file = conflicts_per_file.source_file

)

select * from final
