{#- Numbers and money as a customer reads them on an invoice line: "70,000", "$0.001", "€1,234.50",
    "¥1,000". Descriptions only: amounts themselves stay exact decimals. -#}

{#- x with thousands separators and no trailing fraction zeros beyond min_fraction digits
    (min_fraction may be a column, e.g. the currency's minor units). -#}
{% macro format_number(x, min_fraction=0) %}
    {{ return(adapter.dispatch('format_number', 'usage_billing')(x, min_fraction)) }}
{% endmacro %}
{% macro duckdb__format_number(x, min_fraction) -%}
    (case when {{ x }} < 0 then '-' else '' end
        || format('{:,}', cast(trunc(abs({{ x }})) as hugeint))
        || coalesce('.' || nullif(rpad(
            rtrim(split_part(cast(abs({{ x }}) as varchar), '.', 2), '0'),
            cast(greatest({{ dbt.length("rtrim(split_part(cast(abs(" ~ x ~ ") as varchar), '.', 2), '0')") }}, {{ min_fraction }}) as integer),
            '0'), ''), ''))
{%- endmacro %}

{#- Spark: format_number for the thousands separators; the fraction digits come from plain_decimal_text
    (Spark writes small decimals such as 0E-9 in scientific notation when cast to text). -#}
{% macro spark__format_number(x, min_fraction) -%}
    {%- set fraction = "trim(trailing '0' from split_part(" ~ usage_billing.plain_decimal_text('abs(' ~ x ~ ')') ~ ", '.', 2))" -%}
    (case when {{ x }} < 0 then '-' else '' end
        || format_number(floor(abs({{ x }})), 0)
        || coalesce('.' || nullif(rpad(
            {{ fraction }},
            cast(greatest({{ dbt.length(fraction) }}, {{ min_fraction }}) as integer),
            '0'), ''), ''))
{%- endmacro %}

{% macro currency_symbol(currency) -%}
    case {{ currency }}
        when 'usd' then '$'
        when 'eur' then '€'
        when 'gbp' then '£'
        when 'jpy' then '¥'
        else upper({{ currency }}) || ' '
    end
{%- endmacro %}

{#- A money value with its currency: at least the currency's minor units of fraction, more when a
    unit price needs them ("$0.0015"); the sign goes first ("-$12.50"). -#}
{% macro format_money(x, currency, minor_units) -%}
    (case when {{ x }} < 0 then '-' else '' end
        || {{ usage_billing.currency_symbol(currency) }}
        || {{ usage_billing.format_number('abs(' ~ x ~ ')', minor_units) }})
{%- endmacro %}

{#- "1 call", "70,000 calls", "2.5 GB": lower-case unit labels take an s when the quantity is not 1. -#}
{% macro format_units(quantity, unit_label) -%}
    ({{ usage_billing.format_number(quantity) }} || ' ' || coalesce({{ unit_label }}, 'unit')
        || case
            when {{ quantity }} = 1 or not {{ usage_billing.regex_contains("coalesce(" ~ unit_label ~ ", 'unit')", '[a-z]$') }} then ''
            when {{ usage_billing.regex_contains(unit_label, '(s|x|ch|sh)$') }} then 'es'
            else 's'
        end)
{%- endmacro %}
