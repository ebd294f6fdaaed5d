{#- Rollups kept from the run's changes instead of rebuilt from every kept event (docs/scaling.md,
    "What a run costs").

    The dedupe (int_usage_events_deduplicated) replaces, by event_id, the kept copy of every id that has a
    copy in the new files. int_usage_events_superseded logs each replaced version first. So the changes a
    run made to the kept events are: + the dedupe's rows loaded after a watermark, - the superseded versions
    that had been loaded by it (E2: a re-send with an earlier timestamp can move an event to another day,
    period or even account).

    int_usage_daily adds them up (sums and counts are additive; a group's max is recomputed from its own
    events only when a removed copy may have been its max). The rollups after it are kept by account
    period: each run recomputes the account periods whose daily usage changed since that rollup last ran
    (changed_account_periods), from their own daily rows, and replaces them (strategy
    replace_changed_periods below). Every rollup is rebuilt in full when the pricing catalog changed, on a
    --full-refresh, and by a plain `dbt build` (var catalog_changed, default true). -#}

{#- The config of every rollup, called at the top of its model: rebuilt as a table when the catalog may
    have changed (rollup_materialization), else kept by `strategy`; its watermark recorded after each run
    unless it keeps its own; extra settings (unique_key) passed through. -#}
{% macro rollup_config(strategy, record_watermark=true) -%}
    {%- set settings = dict(
        materialized=usage_billing.rollup_materialization(),
        incremental_strategy=strategy,
        on_schema_change='fail',
        **kwargs
    ) -%}
    {%- if record_watermark -%}
        {%- do settings.update(post_hook="{{ usage_billing.record_rollup_watermark() }}") -%}
    {%- endif -%}
    {{ config(**settings) }}
{%- endmacro %}

{#- 'table' (full rebuild) when the catalog may have changed, else 'incremental'. -#}
{% macro rollup_materialization() -%}
    {{ return('incremental' if var('catalog_changed', true) in (false, 'false', 'False') else 'table') }}
{%- endmacro %}

{#- Start of time for watermarks: everything was loaded after it. -#}
{% macro loaded_since_start() -%}
    cast('1900-01-01' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- A relation beside `relation` (same database), in the intermediate (or another) schema. The rollups
    read their incremental inputs by name, not ref(): dbt records a ref at parse time, when
    is_incremental() is false, and each of these inputs runs before them through their other parents. -#}
{% macro intermediate_relation(relation, identifier, schema='intermediate') %}
    {{ return(relation.incorporate(path={'schema': schema, 'identifier': identifier})) }}
{% endmacro %}

{#- Where each period rollup records the last load of int_usage_daily it has absorbed (append-only: one
    row per run and rollup, in the same transaction as the rollup's rows on DuckDB). -#}
{% macro rollup_watermarks(relation) %}
    {{ return(usage_billing.intermediate_relation(relation, 'rollup_watermarks')) }}
{% endmacro %}

{#- A watermark as a SQL timestamp literal, read when the model runs: the latest `column` of `relation`
    (optionally among rows matching `where`), or the start of time when it has no row. A literal, not a
    subquery, so that DuckDB skips the row groups of older loads (min/max per row group) instead of
    comparing every row of the history. -#}
{% macro loaded_through(relation, column, where=none) -%}
    {%- if not execute -%}
        {{ return(usage_billing.loaded_since_start()) }}
    {%- endif -%}
    {%- set found = run_query(
        'select cast(max(' ~ column ~ ') as ' ~ dbt.type_string() ~ ') from ' ~ relation
        ~ (' where ' ~ where if where else '')
    ) -%}
    {%- set value = found.columns[0].values()[0] if found and found.rows | length > 0 else none -%}
    {%- if value is none -%}
        {{ return(usage_billing.loaded_since_start()) }}
    {%- endif -%}
    {{ return("cast('" ~ value ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}

{#- SQL: the last load of int_usage_daily that the rollup `relation` absorbed; the start of time if it
    never recorded one (its watermark table is missing: every period is recomputed, which is correct). -#}
{% macro rollup_absorbed_through(relation) -%}
    {%- set watermarks = usage_billing.rollup_watermarks(relation) -%}
    {%- if execute and adapter.get_relation(watermarks.database, watermarks.schema, watermarks.identifier) is not none -%}
        {{ usage_billing.loaded_through(watermarks, 'absorbed_through', "model_name = '" ~ relation.identifier ~ "'") }}
    {%- else -%}
        {{ usage_billing.loaded_since_start() }}
    {%- endif -%}
{%- endmacro %}

{#- On run start (dbt_project.yml): the watermark table, created once (not by the rollups themselves, which
    may run in parallel threads). -#}
{% macro create_rollup_watermarks() %}
    {%- if execute -%}
        {%- set database = target.database if target.database is defined else none -%}
        {%- set watermarks = api.Relation.create(database=database, schema='intermediate', identifier='rollup_watermarks') -%}
        {%- do run_query('create schema if not exists ' ~ watermarks.without_identifier()) -%}
        {%- do run_query(
            'create table if not exists ' ~ watermarks ~ ' (model_name ' ~ dbt.type_string()
            ~ ', absorbed_through ' ~ dbt.type_timestamp() ~ ', recorded_at ' ~ dbt.type_timestamp() ~ ')'
            ~ (' using parquet' if target.type == 'spark' else '')
        ) -%}
    {%- endif -%}
{% endmacro %}

{#- Post-hook of each rollup: record what it absorbed (the last load of its input, int_usage_daily or the
    dedupe, which it has just read in full or in part). -#}
{% macro record_rollup_watermark(input='int_usage_daily') %}
    insert into {{ usage_billing.rollup_watermarks(this) }}
    select
        '{{ this.identifier }}',
        coalesce(max(last_loaded_at), {{ usage_billing.loaded_since_start() }}),
        {{ usage_billing.run_started_timestamp() }}
    from {{ usage_billing.intermediate_relation(this, input) }}
{% endmacro %}

{#- SQL: the event ids the dedupe re-decided since the rollup `relation` last ran. -#}
{% macro redecided_event_ids(relation) -%}
    select redecided.event_id
    from {{ usage_billing.intermediate_relation(relation, 'int_usage_events_deduplicated') }} as redecided
    where redecided.last_loaded_at > {{ usage_billing.rollup_absorbed_through(relation) }}
{%- endmacro %}

{#- Strategy replace_redecided_events (event_conflicts): the rows of the events the dedupe re-decided since
    the last run are deleted and the model's rows (recomputed for exactly those events) inserted. -#}
{% macro get_incremental_replace_redecided_events_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {{ return(usage_billing.replace_rows(
        target, arg_dict['temp_relation'], arg_dict['dest_columns'] | map(attribute='name') | list,
        'existing_rows.event_id in (' ~ usage_billing.redecided_event_ids(target) ~ ')', 'true'
    )) }}
{% endmacro %}

{#- SQL: the (account_id, period_start) pairs whose daily usage changed since `since` (a SQL timestamp):
    groups int_usage_daily rewrote, and the periods of superseded versions (a group they emptied is gone
    from int_usage_daily). -#}
{% macro changed_account_periods(relation, since) -%}
    {%- set daily = usage_billing.intermediate_relation(relation, 'int_usage_daily') -%}
    {%- set superseded = usage_billing.intermediate_relation(relation, 'int_usage_events_superseded') -%}
    select
        changed_daily.account_id,
        changed_daily.period_start
    from {{ daily }} as changed_daily
    where changed_daily.last_loaded_at > {{ since }}
    union
    select
        superseded.account_id,
        {{ usage_billing.account_period_start('cast(superseded.event_at as date)', 'superseded_accounts') }}
    from {{ superseded }} as superseded
    left join {{ usage_billing.intermediate_relation(relation, 'accounts', 'catalog') }} as superseded_accounts
        on superseded.account_id = superseded_accounts.account_id
    where superseded.superseded_at > {{ since }}
{%- endmacro %}

{#- P1: the period of `date_expr` for an account row `accounts` (left-joined; unknown accounts anchor on
    day 1, §3a). -#}
{% macro account_period_start(date_expr, accounts) -%}
    {{ usage_billing.period_start_for(date_expr, 'coalesce(' ~ accounts ~ '.billing_anchor_day, 1)') }}
{%- endmacro %}

{#- A filter for a rollup's input rows: in an incremental run, only the changed account periods. -#}
{% macro in_changed_periods(alias=none) -%}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    {%- if is_incremental() -%}
        ({{ prefix }}account_id, {{ prefix }}period_start) in (
            {{ usage_billing.changed_account_periods(this, usage_billing.rollup_absorbed_through(this)) }}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The same filter for int_usage_threshold_crossings' inputs: the pairs of crossing_periods_to_redo. -#}
{% macro in_crossing_periods_to_redo() -%}
    {%- if is_incremental() -%}
        (account_id, period_start) in ({{ usage_billing.crossing_periods_to_redo(this) }})
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Strategy replace_changed_periods: the account periods changed since the rollup last ran are deleted
    and the model's rows (recomputed for exactly those periods) inserted. -#}
{% macro get_incremental_replace_changed_periods_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set changed -%}
        {{ usage_billing.changed_account_periods(target, usage_billing.rollup_absorbed_through(target)) }}
    {%- endset -%}
    {{ return(usage_billing.replace_rows(
        target, arg_dict['temp_relation'], arg_dict['dest_columns'] | map(attribute='name') | list,
        '(existing_rows.account_id, existing_rows.period_start) in (' ~ changed ~ ')', 'true'
    )) }}
{% endmacro %}

{#- SQL: the (account_id, period_start) pairs int_usage_threshold_crossings (`relation`) recomputes: the
    pairs whose usage changed, and the pairs with a threshold reached that it holds no crossing for. A
    pair's thresholds can appear without new usage in it: its period starts counting once as_of passes
    the period's start (plan segments, P2), which new events of other accounts or an explicit as_of do. -#}
{% macro crossing_periods_to_redo(relation) -%}
    {{ usage_billing.changed_account_periods(relation, usage_billing.rollup_absorbed_through(relation)) }}
    union
    select reached.account_id, reached.period_start
    from {{ usage_billing.intermediate_relation(relation, 'int_usage_thresholds_reached') }} as reached
    where not exists (
        select 1
        from {{ relation }} as held
        where {{ usage_billing.same_threshold('held', 'reached') }}
    )
{%- endmacro %}

{#- SQL: rows `a` and `b` (of int_usage_thresholds_reached or int_usage_threshold_crossings) are about the
    same threshold of the same account period. -#}
{% macro same_threshold(a, b) -%}
    {%- for column in ['account_id', 'period_start', 'alert_type', 'threshold_pct', 'price_id'] -%}
        {{ a }}.{{ column }} = {{ b }}.{{ column }}{{ ' and ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- Strategy replace_crossing_periods (int_usage_threshold_crossings): like replace_changed_periods, for
    the pairs of crossing_periods_to_redo. -#}
{% macro get_incremental_replace_crossing_periods_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {{ return(usage_billing.replace_rows(
        target, arg_dict['temp_relation'], arg_dict['dest_columns'] | map(attribute='name') | list,
        '(existing_rows.account_id, existing_rows.period_start) in ('
            ~ usage_billing.crossing_periods_to_redo(target) ~ ')', 'true'
    )) }}
{% endmacro %}

{#- Strategy rollup_upsert (int_usage_daily): rows are replaced by unique_key, and a row whose event
    count fell to 0 (every event of its group moved elsewhere) is not kept. -#}
{% macro get_incremental_rollup_upsert_sql(arg_dict) %}
    {%- set key = arg_dict['unique_key'] -%}
    {{ return(usage_billing.replace_rows(
        arg_dict['target_relation'], arg_dict['temp_relation'], arg_dict['dest_columns'] | map(attribute='name') | list,
        'existing_rows.' ~ key ~ ' in (select ' ~ key ~ ' from ' ~ arg_dict['temp_relation'] ~ ')', 'event_count <> 0'
    )) }}
{% endmacro %}

{#- Remove the target's rows matching `replaced_where` (the target's alias in it: existing_rows), then add
    the source's rows matching `kept_where`. -#}
{% macro replace_rows(target, source, columns, replaced_where, kept_where) %}
    {{ return(adapter.dispatch('replace_rows', 'usage_billing')(target, source, columns, replaced_where, kept_where)) }}
{% endmacro %}

{% macro default__replace_rows(target, source, columns, replaced_where, kept_where) -%}
    delete from {{ target }} as existing_rows where {{ replaced_where }};
    insert into {{ target }} ({{ columns | join(', ') }})
    select {{ columns | join(', ') }} from {{ source }} where {{ kept_where }}
{%- endmacro %}

{#- Spark without Delta or Iceberg cannot delete rows: the table is rewritten as its kept rows plus the
    new ones, through a side table (Spark cannot overwrite a table that the query reads). A rollup is a
    small table next to the events; the events themselves are never read again. -#}
{% macro spark__replace_rows(target, source, columns, replaced_where, kept_where) %}
    {%- set side = target.incorporate(path={'identifier': target.identifier ~ '__dbt_replace'}) -%}
    {%- do run_query('drop table if exists ' ~ side) -%}
    {%- call statement('replace_rows_side_table') -%}
        create table {{ side }} using parquet as
        select {{ columns | join(', ') }} from {{ target }} as existing_rows where not ({{ replaced_where }})
        union all
        select {{ columns | join(', ') }} from {{ source }} where {{ kept_where }}
    {%- endcall -%}
    {%- call statement('replace_rows_swap') -%}
        insert overwrite table {{ target }} select {{ columns | join(', ') }} from {{ side }}
    {%- endcall -%}
    {{ return('drop table if exists ' ~ side) }}
{% endmacro %}

{#- int_usage_daily's key: its grain (account, meter, endpoint, status, day, counted value) as one non-null
    value, so that rows can be replaced by key (endpoint and the counted value may be null). Each part is
    written as its length and text, so no two grains give the same string. -#}
{% macro usage_key() -%}
    {%- set parts = [] -%}
    {%- for column in ['account_id', 'meter', 'endpoint', 'status_code', 'usage_date', 'unique_value'] -%}
        {%- set text = 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')' -%}
        {%- do parts.append("coalesce(" ~ dbt.concat(['cast(' ~ dbt.length(text) ~ ' as ' ~ dbt.type_string() ~ ')', "':'", text]) ~ ", 'n')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}
