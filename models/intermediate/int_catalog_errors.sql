{#- The pricing catalog's errors (CONTRACT.md §2). Seeds load first; when this model runs, any bad row
    fails the build with one message per row, and every pricing model (which depends on this one) is
    skipped, so a broken catalog can never price an invoice. -#}
{%- if execute and load_relation(ref('meters')) is not none -%}
    {%- set found = run_query(usage_billing.catalog_error_rows() ~ ' order by 1, 2, 3') -%}
    {%- if found.rows | length > 0 -%}
        {%- set messages = [] -%}
        {%- for row in found.rows -%}{%- do messages.append('  - ' ~ row['message']) -%}{%- endfor -%}
        {{ exceptions.raise_compiler_error(
            'The pricing catalog has ' ~ (found.rows | length) ~ ' error(s) (CONTRACT.md §2):\n' ~ (messages | join('\n'))) }}
    {%- endif -%}
{%- endif -%}
{{ usage_billing.catalog_error_rows() }}
