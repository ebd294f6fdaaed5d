{#- CONTRACT.md §1: ISO-8601 with 'T' or space, optional fraction (truncated to microseconds),
    'Z', ±HH:MM, ±HHMM, ±HH or no offset (= UTC). Anything else, and impossible dates, give null.
    Normalised explicitly (local time minus offset) so that every engine agrees.
    Two steps so the pattern runs once per row: iso_timestamp_parts splits the text into
    d (date), h, mi, s, f (fraction digits), o (offset) with one regular expression;
    iso_timestamp_from_parts checks the ranges and builds the UTC timestamp. -#}

{% macro iso_timestamp_pattern() -%}
    ^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.](\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?$
{%- endmacro %}

{% macro iso_timestamp_parts(text) %}
    {{ return(adapter.dispatch('iso_timestamp_parts', 'usage_billing')(text)) }}
{% endmacro %}

{% macro duckdb__iso_timestamp_parts(text) -%}
    regexp_extract({{ text }}, '{{ usage_billing.iso_timestamp_pattern() }}', ['d', 'h', 'mi', 's', 'f', 'o'])
{%- endmacro %}

{% macro default__iso_timestamp_parts(text) -%}
    named_struct(
        {%- for name in ['d', 'h', 'mi', 's', 'f', 'o'] %}
        '{{ name }}', regexp_extract({{ text }}, '{{ usage_billing.iso_timestamp_pattern() }}', {{ loop.index }}){{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{#- Spark: a raw string literal (r'...'), since Spark's ordinary literals drop the backslash of \d. -#}
{% macro spark__iso_timestamp_parts(text) -%}
    named_struct(
        {%- for name in ['d', 'h', 'mi', 's', 'f', 'o'] %}
        '{{ name }}', regexp_extract({{ text }}, r'{{ usage_billing.iso_timestamp_pattern() }}', {{ loop.index }}){{ ',' if not loop.last }}
        {%- endfor %}
    )
{%- endmacro %}

{% macro iso_timestamp_from_parts(parts) -%}
    {%- set d = "nullif(" ~ parts ~ ".d, '')" -%}
    {%- set offset = "nullif(" ~ parts ~ ".o, '')" -%}
    {%- set offset_digits = "replace(" ~ offset ~ ", ':', '')" -%}
    case
        when {{ d }} is null then null
        when {{ usage_billing.try_cast(parts ~ '.h', 'integer') }} > 23 then null
        when {{ usage_billing.try_cast(parts ~ '.mi', 'integer') }} > 59 then null
        when {{ usage_billing.try_cast(parts ~ '.s', 'integer') }} > 59 then null
        when {{ offset }} is not null and {{ offset }} <> 'Z'
            and ({{ usage_billing.try_cast('substring(' ~ offset_digits ~ ', 2, 2)', 'integer') }} > 23
                or {{ usage_billing.try_cast("coalesce(nullif(substring(" ~ offset_digits ~ ", 4, 2), ''), '0')", 'integer') }} > 59) then null
        else {{ dbt.dateadd(
            'minute',
            "-1 * (case when " ~ offset ~ " is null or " ~ offset ~ " = 'Z' then 0 else "
                ~ "(case when substring(" ~ offset ~ ", 1, 1) = '-' then -1 else 1 end) * ("
                ~ usage_billing.try_cast("substring(" ~ offset_digits ~ ", 2, 2)", "integer") ~ " * 60 + "
                ~ usage_billing.try_cast("coalesce(nullif(substring(" ~ offset_digits ~ ", 4, 2), ''), '0')", "integer") ~ ") end)",
            usage_billing.try_cast(
                d ~ " || ' ' || " ~ parts ~ ".h || ':' || " ~ parts ~ ".mi || ':' || " ~ parts ~ ".s || '.' || "
                ~ "rpad(coalesce(substring(nullif(" ~ parts ~ ".f, ''), 1, 6), '0'), 6, '0')",
                dbt.type_timestamp())
        ) }}
    end
{%- endmacro %}

{#- For a single value (e.g. the as_of var): both steps in one expression. -#}
{% macro iso_timestamp_utc(text) -%}
    {{ usage_billing.iso_timestamp_from_parts('(' ~ usage_billing.iso_timestamp_parts(text) ~ ')') }}
{%- endmacro %}
