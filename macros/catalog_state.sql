{#- The fingerprint of the pricing catalog that the last successful build loaded (orchestration/warehouse/catalog_state.py).
    The Dagster asset compares it with the catalog's current fingerprint and passes the vars catalog_changed and
    catalog_fingerprint: while the catalog is unchanged, it leaves the seeds and their tests out of the build.

    Every build or seed run deletes the stored fingerprint before it starts; at its end, when no node failed and
    it either loaded every seed or was told the catalog is unchanged, it stores var('catalog_fingerprint'). So a
    failed or killed build, or a plain `dbt build` (no fingerprint var), leaves none, and the next build of the
    asset reloads and re-tests the catalog. -#}

{% macro forget_catalog_fingerprint() %}
    {{ return(adapter.dispatch('forget_catalog_fingerprint', 'usage_billing')()) }}
{% endmacro %}

{% macro default__forget_catalog_fingerprint() %}{% endmacro %}

{% macro duckdb__forget_catalog_fingerprint() %}
    {% if execute and flags.WHICH in ('build', 'seed') %}
        {% do run_query(
            'create schema if not exists catalog; '
            ~ 'create table if not exists catalog.catalog_fingerprint '
            ~ '(fingerprint varchar not null, invocation_id varchar not null, stored_at timestamp not null); '
            ~ 'delete from catalog.catalog_fingerprint'
        ) %}
    {% endif %}
{% endmacro %}

{% macro store_catalog_fingerprint(results) %}
    {{ return(adapter.dispatch('store_catalog_fingerprint', 'usage_billing')(results)) }}
{% endmacro %}

{% macro default__store_catalog_fingerprint(results) %}{% endmacro %}

{% macro duckdb__store_catalog_fingerprint(results) %}
    {% if execute and flags.WHICH in ('build', 'seed') %}
        {% set fingerprint = var('catalog_fingerprint', '') | string %}
        {% set failed = results | selectattr('status', 'in', ['error', 'fail']) | list %}
        {% set seeds = graph.nodes.values() | selectattr('resource_type', 'equalto', 'seed') | list %}
        {% set seeds_loaded = [] %}
        {% for result in results if result.node.resource_type == 'seed' and result.status == 'success' %}
            {% do seeds_loaded.append(result.node.unique_id) %}
        {% endfor %}
        {% set loaded = seeds_loaded | length == seeds | length or not var('catalog_changed', true) %}
        {% if fingerprint and failed | length == 0 and loaded %}
            {% do run_query(
                'insert into catalog.catalog_fingerprint values ('
                ~ dbt.string_literal(fingerprint) ~ ', ' ~ dbt.string_literal(invocation_id) ~ ', current_timestamp)'
            ) %}
        {% endif %}
    {% endif %}
{% endmacro %}
