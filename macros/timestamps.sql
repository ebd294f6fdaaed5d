{#- CONTRACT.md §1: ISO-8601 with 'T' or space, optional fraction (truncated to microseconds),
    'Z', ±HH:MM, ±HHMM, ±HH or no offset (= UTC). Anything else, and impossible dates, give null.
    Normalised explicitly (local time minus offset) so that every engine agrees. -#}

{% macro iso_timestamp_utc(text) %}
    {{ return(adapter.dispatch('iso_timestamp_utc', 'usage_billing')(text)) }}
{% endmacro %}

{% macro default__iso_timestamp_utc(text) -%}
    {%- set pattern = '^(\\d{4}-\\d{2}-\\d{2})[T ](\\d{2}):(\\d{2}):(\\d{2})(?:[.](\\d+))?(Z|[+-]\\d{2}(?::?\\d{2})?)?$' -%}
    {%- set offset = usage_billing.regex_group(text, pattern, 6) -%}
    {%- set offset_digits = "replace(" ~ offset ~ ", ':', '')" -%}
    case
        when not {{ usage_billing.regex_matches(text, pattern) }} then null
        when cast({{ usage_billing.regex_group(text, pattern, 2) }} as integer) > 23 then null
        when cast({{ usage_billing.regex_group(text, pattern, 3) }} as integer) > 59 then null
        when cast({{ usage_billing.regex_group(text, pattern, 4) }} as integer) > 59 then null
        when {{ offset }} is not null and {{ offset }} <> 'Z'
            and (cast(substring({{ offset_digits }}, 2, 2) as integer) > 23
                or cast(coalesce(nullif(substring({{ offset_digits }}, 4, 2), ''), '0') as integer) > 59) then null
        else {{ dbt.dateadd(
            'minute',
            "-1 * (case when " ~ offset ~ " is null or " ~ offset ~ " = 'Z' then 0 else "
                ~ "(case when substring(" ~ offset ~ ", 1, 1) = '-' then -1 else 1 end) * ("
                ~ "cast(substring(" ~ offset_digits ~ ", 2, 2) as integer) * 60 + "
                ~ "cast(coalesce(nullif(substring(" ~ offset_digits ~ ", 4, 2), ''), '0') as integer)) end)",
            usage_billing.try_cast(
                usage_billing.regex_group(text, pattern, 1) ~ " || ' ' || "
                ~ usage_billing.regex_group(text, pattern, 2) ~ " || ':' || "
                ~ usage_billing.regex_group(text, pattern, 3) ~ " || ':' || "
                ~ usage_billing.regex_group(text, pattern, 4) ~ " || '.' || "
                ~ "rpad(coalesce(substring(" ~ usage_billing.regex_group(text, pattern, 5) ~ ", 1, 6), '0'), 6, '0')",
                dbt.type_timestamp())
        ) }}
    end
{%- endmacro %}
