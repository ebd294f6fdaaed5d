{#- A build's changes reach the DuckDB file only at its end (docs/operations.md, "Killed runs and a full
    disk"). DuckDB commits each model to its write-ahead log (<warehouse>.wal) and copies the log into the
    file at a checkpoint. A build first checkpoints what earlier commands left in the log, then holds
    checkpoints until every model is built: if it fails for want of space, removing the log puts the
    warehouse back exactly as it was before the run (orchestration/warehouse/disk.py). A killed or otherwise failed
    build keeps its log, which DuckDB replays on the next open, as every commit is kept. -#}

{% macro hold_checkpoints() %}
    {{ return(adapter.dispatch('hold_checkpoints', 'usage_billing')()) }}
{% endmacro %}

{% macro default__hold_checkpoints() %}{% endmacro %}

{% macro duckdb__hold_checkpoints() %}
    {% if execute and flags.WHICH in ('build', 'run', 'seed') %}
        {% do run_query('checkpoint') %}
        {% do run_query("set global checkpoint_threshold = '1TB'") %}
        {% do run_query('pragma disable_checkpoint_on_shutdown') %}
    {% endif %}
{% endmacro %}

{#- At the end of a build: checkpoint when no model or seed failed. -#}
{% macro checkpoint_if_built(results) %}
    {{ return(adapter.dispatch('checkpoint_if_built', 'usage_billing')(results)) }}
{% endmacro %}

{% macro default__checkpoint_if_built(results) %}{% endmacro %}

{% macro duckdb__checkpoint_if_built(results) %}
    {% if execute and flags.WHICH in ('build', 'run', 'seed') %}
        {% set failed = [] %}
        {% for result in results if result.status == 'error' and result.node.resource_type in ('model', 'seed', 'snapshot') %}
            {% do failed.append(result.node.name) %}
        {% endfor %}
        {% if failed | length == 0 %}
            {% do run_query('checkpoint') %}
        {% endif %}
    {% endif %}
{% endmacro %}
