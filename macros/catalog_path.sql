{#- dbt writes its compiled copy of each seed to target/compiled/<project>/<seed path>; with an absolute seed
    path that join is the original CSV, which a seed run would then overwrite with blanks. The usage-billing
    CLI and the Dagster assets copy a catalog given by an absolute path into the project first
    (stage_catalog); a plain `dbt seed`, `dbt build` or `dbt retry` is refused here, before any seed runs.
    Commands that load no seeds (run, test, compile, ...) are let through, and so is a caller that passes
    `--vars '{catalog_is_a_scratch_copy: true}'` because its catalog is a throw-away copy (simulate, tests). -#}
{% macro refuse_absolute_catalog_path() %}
    {%- set catalog = env_var('USAGE_BILLING_CATALOG', 'seeds') -%}
    {%- set absolute = catalog.startswith('/') or catalog[1:3] == ':\\' or catalog[1:3] == ':/' -%}
    {%- set loads_seeds = flags.WHICH in ('seed', 'build', 'retry') -%}
    {%- if execute and absolute and loads_seeds and not var('catalog_is_a_scratch_copy', false) -%}
        {{ exceptions.raise_compiler_error(
            'USAGE_BILLING_CATALOG=' ~ catalog ~ ' is an absolute path: a dbt seed run would overwrite its CSV '
            ~ 'files with their compiled copies. Run `usage-billing build` (it copies the catalog into the '
            ~ 'project first) or point USAGE_BILLING_CATALOG at a folder inside the project.'
        ) }}
    {%- endif -%}
{% endmacro %}
