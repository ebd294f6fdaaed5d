{#- The usage alert thresholds, in percent of the limit they watch: 50, 80 and 100 (80 % of a prepaid
    grant is a low balance). One row each, in a column threshold_pct. -#}
{% macro alert_thresholds() -%}
    select 50 as threshold_pct
    union all
    select 80
    union all
    select 100
{%- endmacro %}
