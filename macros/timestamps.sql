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

{#- The UTC timestamp of an ISO-8601 text, or null (both steps above in one expression). -#}
{% macro iso_timestamp_utc(text) %}
    {{ return(adapter.dispatch('iso_timestamp_utc', 'usage_billing')(text)) }}
{% endmacro %}

{% macro default__iso_timestamp_utc(text) -%}
    {{ usage_billing.iso_timestamp_from_parts('(' ~ usage_billing.iso_timestamp_parts(text) ~ ')') }}
{%- endmacro %}

{#- DuckDB: the pattern (with the hour, minute, second and offset ranges written into it) admits only
    the contract's shapes; DuckDB's own timestamptz cast then applies the offset, truncates the
    fraction to microseconds and rejects impossible dates. Several times faster than the parts. -#}
{% macro duckdb__iso_timestamp_utc(text) -%}
    case
        when regexp_full_match(
            {{ text }},
            '\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d([.]\d+)?(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?'
        )
            then case
                -- With 'Z' or no offset the text is already UTC: the plain cast is cheaper.
                when {{ dbt.position("'+'", 'substring(' ~ text ~ ', 20)') }} = 0
                    and {{ dbt.position("'-'", 'substring(' ~ text ~ ', 20)') }} = 0
                    then try_cast({{ text }} as timestamp)
                else try_cast(try_cast({{ text }} as timestamptz) as timestamp)
            end
    end
{%- endmacro %}
