{#- Which rows an event-level data test checks (dbt's `where` test config).

    In a `dbt build` the tests on event-level tables (staged lines, kept events, daily rollup, quarantine)
    check the rows this run loaded or rewrote: what a run costs then grows with its new events, not with
    the history. The rest holds by construction: staging never reads a file twice (so a file's lines are
    unique across runs when they are within one), and the dedupe and the daily rollup replace rows by their
    key (event_id, usage_key), so they cannot hold a key twice.
    The full history is checked by `dbt test` (any command other than build), by a build with the var
    full_history_checks (CI: scripts/test.sh), and by the deep_checks job on its daily schedule
    (docs/operations.md). -#}
{#- dbt renders a generic test's `where` before the project's macros exist, so the YAML says
    `where: "loaded_in_this_run(<column>)"` and this override of dbt's get_where_subquery (the root project
    is searched first) writes the condition when the test runs. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- set where = modules.re.sub(
            'loaded_in_this_run\\((\\w+)\\)',
            usage_billing.loaded_in_this_run('\\1'),
            where
        ) -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') as dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{% macro loaded_in_this_run(column) -%}
    {%- if flags.WHICH != 'build' or var('full_history_checks', false) in (true, 'true', 'True') -%}
        1 = 1
    {%- else -%}
        {{ column }} >= {{ usage_billing.run_started_timestamp() }}
    {%- endif -%}
{%- endmacro %}
