{#- P12: a line's amount is rounded half away from zero to its currency's minor units.
    Exact decimals only: DuckDB turns decimal division into DOUBLE, so division goes through
    integers (exact_div_round) and rounding uses round() on decimals, which is half away from
    zero on DuckDB, Spark (HALF_UP) and Postgres alike. -#}

{% macro round_money(amount, minor_units) -%}
    {#- Each branch is cast on its own: engines unify decimal(38,0) and decimal(38,2) branches
        to a single scale, which would drop the fraction. -#}
    case {{ minor_units }}
        {%- for scale in range(0, 5) %}
        when {{ scale }} then cast(round({{ amount }}, {{ scale }}) as {{ usage_billing.type_money() }})
        {%- endfor %}
    end
{%- endmacro %}

{#- numerator / denominator rounded half away from zero to result_scale digits, exactly.
    numerator: a decimal with at most 12 fraction digits; denominator: a positive integer. -#}
{% macro exact_div_round(numerator, denominator, result_scale) %}
    {{ return(adapter.dispatch('exact_div_round', 'usage_billing')(numerator, denominator, result_scale)) }}
{% endmacro %}

{% macro default__exact_div_round(numerator, denominator, result_scale) -%}
    {%- set scaled = "cast(cast(" ~ numerator ~ " as decimal(38, 12)) * 1000000000000 as " ~ usage_billing.type_integer_wide() ~ ")" -%}
    {%- set den = "(cast(" ~ denominator ~ " as " ~ usage_billing.type_integer_wide() ~ ") * " ~ (10 ** (12 - result_scale)) ~ ")" -%}
    (cast(
        (case when {{ scaled }} < 0 then -1 else 1 end)
        * {{ usage_billing.integer_div("(2 * abs(" ~ scaled ~ ") + " ~ den ~ ")", "(2 * " ~ den ~ ")") }}
        as decimal(38, 0)) * cast({{ '1' if result_scale == 0 else '0.' ~ ('0' * (result_scale - 1)) ~ '1' }} as decimal(38, {{ result_scale }})))
{%- endmacro %}

{% macro round_money_div(numerator, denominator, minor_units) -%}
    case {{ minor_units }}
        {%- for scale in range(0, 5) %}
        when {{ scale }} then cast({{ usage_billing.exact_div_round(numerator, denominator, scale) }} as {{ usage_billing.type_money() }})
        {%- endfor %}
    end
{%- endmacro %}

{#- An integer amount in minor units (as Stripe gives it) in major units, exactly: 1234 with 2 → 12.34. -#}
{% macro from_minor_units(amount_minor, minor_units) -%}
    case {{ minor_units }}
        {%- for scale in range(0, 5) %}
        when {{ scale }} then cast(cast({{ amount_minor }} as decimal(38, 0)) * cast({{ '1' if scale == 0 else '0.' ~ ('0' * (scale - 1)) ~ '1' }} as decimal(38, {{ scale }})) as {{ usage_billing.type_money() }})
        {%- endfor %}
    end
{%- endmacro %}

{#- ceil (or floor) of quantity / whole package size, exactly (P7). -#}
{% macro packages_needed(quantity, package_size, rounding) -%}
    {%- set q = "cast(cast(" ~ quantity ~ " as decimal(38, 9)) * 1000000000 as " ~ usage_billing.type_integer_wide() ~ ")" -%}
    {%- set s = "(cast(" ~ package_size ~ " as " ~ usage_billing.type_integer_wide() ~ ") * 1000000000)" -%}
    cast(case
        when {{ rounding }} = 'down' then {{ usage_billing.integer_div(q, s) }}
        else {{ usage_billing.integer_div("(" ~ q ~ " + " ~ s ~ " - 1)", s) }}
    end as decimal(38, 0))
{%- endmacro %}

{% macro type_integer_wide() %}
    {{ return(adapter.dispatch('type_integer_wide', 'usage_billing')()) }}
{% endmacro %}
{% macro default__type_integer_wide() %}decimal(38, 0){% endmacro %}
{% macro duckdb__type_integer_wide() %}hugeint{% endmacro %}

{% macro integer_div(a, b) %}
    {{ return(adapter.dispatch('integer_div', 'usage_billing')(a, b)) }}
{% endmacro %}
{% macro duckdb__integer_div(a, b) %}({{ a }} // {{ b }}){% endmacro %}
{% macro spark__integer_div(a, b) %}({{ a }} div {{ b }}){% endmacro %}
{% macro postgres__integer_div(a, b) %}div({{ a }}, {{ b }}){% endmacro %}

{#- x without its fraction (towards zero), same type family: DuckDB trunc(x); Spark's trunc is for dates. -#}
{% macro trunc_number(x) %}
    {{ return(adapter.dispatch('trunc_number', 'usage_billing')(x)) }}
{% endmacro %}
{% macro default__trunc_number(x) %}trunc({{ x }}){% endmacro %}
{% macro spark__trunc_number(x) %}(case when {{ x }} < 0 then ceil({{ x }}) else floor({{ x }}) end){% endmacro %}

{#- A decimal as short text for descriptions: no trailing fraction zeros. -#}
{% macro format_decimal(x) %}
    {{ return(adapter.dispatch('format_decimal', 'usage_billing')(x)) }}
{% endmacro %}
{% macro default__format_decimal(x) -%}
    regexp_replace(regexp_replace(cast({{ x }} as {{ dbt.type_string() }}), '([.][0-9]*?)0+$', '\1'), '[.]$', '')
{%- endmacro %}
{% macro spark__format_decimal(x) -%}
    regexp_replace(regexp_replace({{ usage_billing.plain_decimal_text(x) }}, r'([.][0-9]*?)0+$', '$1'), r'[.]$', '')
{%- endmacro %}

{#- A number as plain text with all the fraction digits of its type ("0.000000000", never "0E-9"), as
    DuckDB casts it (Spark writes decimals below 1e-6 in scientific notation: the scale comes from typeof). -#}
{% macro plain_decimal_text(x) %}
    {{ return(adapter.dispatch('plain_decimal_text', 'usage_billing')(x)) }}
{% endmacro %}
{% macro default__plain_decimal_text(x) -%}
    cast({{ x }} as {{ dbt.type_string() }})
{%- endmacro %}
{% macro spark__plain_decimal_text(x) -%}
    replace(format_number({{ x }}, coalesce(cast(regexp_extract(typeof({{ x }}), r',\s*([0-9]+)\)', 1) as integer), 0)), ',', '')
{%- endmacro %}
