{#- Exact decimal types used on the money path (CONTRACT.md P12: never floats).
    quantity: units with up to 9 fraction digits; rate: catalog prices of any practical precision;
    money: rounded line amounts (minor units are at most 4 for ISO currencies). -#}
{% macro type_quantity() %}decimal(38, 9){% endmacro %}
{% macro type_rate() %}decimal(38, 12){% endmacro %}
{% macro type_money() %}decimal(38, 4){% endmacro %}
{% macro type_wide() %}decimal(38, 18){% endmacro %}
