{#- The staging model's fast path (stg_raw_events__usage_events): one typed parse per line, and a line
    whose values have the plain shape nearly every event has is valid by construction, so its columns
    follow from the values' text without the per-key type and alias analysis of the full path. Every
    other line takes the full path. -#}

{#- Whether the fast path is used: on DuckDB, unless the var staging_fast_path is false (a test builds
    staging both ways and compares every row). Other engines send every line through the full path. -#}
{% macro staging_fast_path_enabled() %}
    {%- if not var('staging_fast_path', true) %}{{ return(false) }}{% endif %}
    {{ return(adapter.dispatch('staging_fast_path_enabled', 'usage_billing')()) }}
{% endmacro %}

{% macro default__staging_fast_path_enabled() %}
    {{ return(false) }}
{% endmacro %}

{% macro duckdb__staging_fast_path_enabled() %}
    {{ return(true) }}
{% endmacro %}

{#- A CTE that two later CTEs read: DuckDB computes it once only when told (`as materialized`). -#}
{% macro materialized_cte() %}
    {{ return(adapter.dispatch('materialized_cte', 'usage_billing')()) }}
{% endmacro %}

{% macro default__materialized_cte() %}{% endmacro %}

{% macro duckdb__materialized_cte() %}materialized{% endmacro %}

{#- The top-level keys of a JSON line as typed values, in one parse: `keys` maps each key to 'VARCHAR'
    (a string decoded, any other value as its JSON text: the text json_text gives for a fragment) or
    'JSON' (the fragment json_extract_fields gives). Absent keys and JSON nulls are null; so are all
    keys of a line that is not JSON or not an object. Items are read with json_fields_item. DuckDB only,
    as the fast path; the default exists because dbt resolves the dispatch when it parses the model. -#}
{% macro json_extract_typed(text, keys) %}
    {{ return(adapter.dispatch('json_extract_typed', 'usage_billing')(text, keys)) }}
{% endmacro %}

{% macro default__json_extract_typed(text, keys) -%}
    {%- if execute %}{{ exceptions.raise_compiler_error('json_extract_typed: DuckDB only') }}{% endif -%}
{%- endmacro %}

{% macro duckdb__json_extract_typed(text, keys) -%}
    case when json_valid({{ text }}) then json_transform({{ text }}, '{
        {%- for k, t in keys.items() %}"{{ k }}":"{{ t }}"{{ ',' if not loop.last }}{% endfor -%}
    }') end
{%- endmacro %}

{#- True when the values (texts from json_extract_typed, aliases resolved) make a valid event whose
    columns follow from the texts alone, whatever JSON type each value had. A text alone does not tell a
    string from another JSON value ("7" from 7), so only texts that mean the same either way, or that
    only a string can give, are plain:
    - account: not empty, and not what an object, array, boolean or nan gives (is_plain_id_text);
    - event_id: absent, or as the account (an empty string counts as absent);
    - meter: absent, empty, or a lower-case name other than the literals a boolean or a non-finite number
      gives (true, false, nan, inf, infinity);
    - endpoint: absent, empty, or starting with '/' (never a number's text);
    - units: absent, or at most 15 integer and 9 fraction digits, no sign or exponent (valid and exact as a
      number or as a numeric string alike);
    - status: absent, or three digits from 100 to 599 (as a number or as a string alike);
    - timestamp: iso_timestamp_utc reads it (f.event_at is not null; no number's text looks like one);
    - no metadata: its endpoint and status are aliases, which the full path resolves.
    properties may be anything: both paths keep its JSON text. -#}
{% macro is_plain_event(f) -%}
    (
        {{ usage_billing.is_plain_id_text(f.account) }} and {{ f.account }} <> ''
        and ({{ f.event_id }} is null or {{ usage_billing.is_plain_id_text(f.event_id) }})
        and ({{ f.meter }} is null or {{ usage_billing.regex_matches(f.meter, '([a-z_][a-z0-9_]*)?') }})
        and ({{ f.meter }} is null or {{ f.meter }} not in ('true', 'false', 'nan', 'inf', 'infinity'))
        and ({{ f.endpoint }} is null or {{ f.endpoint }} = '' or left({{ f.endpoint }}, 1) = '/')
        and ({{ f.units }} is null or {{ usage_billing.regex_matches(f.units, '[0-9]{1,15}([.][0-9]{1,9})?') }})
        and ({{ f.status }} is null or {{ usage_billing.regex_matches(f.status, '[1-5][0-9][0-9]') }})
        and {{ f.event_at }} is not null
        and {{ f.metadata }} is null
    )
{%- endmacro %}

{#- An account or event id text that means the same whichever JSON type it came from. The full path
    types a value by its first character, so besides objects, arrays and booleans the non-finite number
    nan (in any case) is excluded: the full path reads it as a JSON null. -#}
{% macro is_plain_id_text(text) -%}
    coalesce(
        left({{ text }}, 1) not in ('{', '[') and {{ text }} not in ('true', 'false') and {{ text }} not ilike 'nan',
        false
    )
{%- endmacro %}
