{#- dbt.dateadd on Spark. dbt-spark's own version goes through whole unix seconds (dropping the
    microseconds of an event time) and raises on a null date (an invalid timestamp must give null, to be
    quarantined); timestampadd keeps microseconds and passes nulls through, like DuckDB's + interval.
    The root project's spark__dateadd takes precedence over the adapter's for every dbt.dateadd call. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart | upper }}, cast({{ interval }} as bigint), {{ from_date_or_timestamp }})
{%- endmacro %}

{#- The day receivables are aged on: dbt var receivables_date (YYYY-MM-DD), else today when the view is read
    (UTC on the project's connections: profiles.yml sets the time zone). -#}
{% macro receivables_date() -%}
    {%- set day = var('receivables_date', '') | string | trim -%}
    {%- if day != '' -%}
        cast({{ usage_billing.sql_string(day) }} as date)
    {%- else -%}
        cast({{ dbt.current_timestamp() }} as date)
    {%- endif -%}
{%- endmacro %}
