{#- dbt writes its compiled copy of each seed to target/compiled/<project>/<seed path>; with an absolute seed
    path that join is the original CSV, which a seed run would then overwrite with blanks. The usage-billing
    CLI and the Dagster assets copy a catalog given by an absolute path into the project first
    (stage_catalog); a plain `dbt seed` or `dbt build` is refused here, before any seed runs. -#}
{% macro refuse_absolute_catalog_path() %}
    {%- set catalog = env_var('USAGE_BILLING_CATALOG', 'seeds') -%}
    {%- if execute and (catalog.startswith('/') or catalog[1:3] == ':\\' or catalog[1:3] == ':/') -%}
        {{ exceptions.raise_compiler_error(
            'USAGE_BILLING_CATALOG=' ~ catalog ~ ' is an absolute path: a dbt seed run would overwrite its CSV '
            ~ 'files with their compiled copies. Run `usage-billing build` (it copies the catalog into the '
            ~ 'project first) or point USAGE_BILLING_CATALOG at a folder inside the project.'
        ) }}
    {%- endif -%}
{% endmacro %}
