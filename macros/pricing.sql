{#- The pricing rules that are expressions (CONTRACT.md §3), written once: the invoice lines
    (int_invoice_price_quantities, int_invoice_lines_priced) and the day-by-day spend of usage_alerts
    call them, so an alert prices usage exactly as the invoice does (before rounding). Tier bounds come
    from int_price_tier_bounds: `tiers` names the relation (CTE or alias) whose tier, lower_bound, up_to
    columns a tier rule reads, `prices` the one with the price's price_id, billing_scheme, tiers_mode and
    quantity. -#}

{#- P8: the quantity billed stops at the hard limit, e.g. 2,350 calls with hard_limit 2,000 → 2,000. -#}
{% macro quantity_within_hard_limit(quantity, hard_limit) -%}
    case when {{ hard_limit }} is not null and {{ quantity }} > {{ hard_limit }} then {{ hard_limit }} else {{ quantity }} end
{%- endmacro %}

{#- P7: a per-unit price's cost, before rounding: ceil (or floor) of quantity / package_size packages
    × unit_amount, e.g. 2,350 calls in packages of 100 rounded up → 24 × 0.50 = 12.00; without
    packages quantity × unit_amount. -#}
{% macro per_unit_cost(quantity, unit_amount, package_size, package_rounding) -%}
    case when {{ package_size }} > 1
        then {{ usage_billing.packages_needed(quantity, package_size, package_rounding) }} * {{ unit_amount }}
        else {{ quantity }} * {{ unit_amount }}
    end
{%- endmacro %}

{#- P5/P6: the join of a tiered price (a row of `prices` with price_id, billing_scheme, tiers_mode and its
    quantity) to the tiers of `tiers` that apply to its quantity. Tier 1 always applies (as in Stripe, even at
    quantity 0); graduated: every tier the quantity goes above the lower bound of; volume: only the tier whose
    range (lower_bound, up_to] contains the whole quantity. -#}
{% macro tier_applies(prices, tiers) -%}
    {{ prices }}.price_id = {{ tiers }}.price_id
        and {{ prices }}.billing_scheme = 'tiered'
        and (
            ({{ prices }}.tiers_mode = 'volume'
                and ({{ tiers }}.tier = 1 or {{ prices }}.quantity > {{ tiers }}.lower_bound)
                and ({{ tiers }}.up_to is null or {{ prices }}.quantity <= {{ tiers }}.up_to))
            or ({{ prices }}.tiers_mode <> 'volume'
                and ({{ tiers }}.tier = 1 or {{ prices }}.quantity > {{ tiers }}.lower_bound))
        )
{%- endmacro %}

{#- P5/P6: the units a tier of `tiers` prices of the quantity of `prices`. Volume: the whole quantity, in
    the tier that contains it; graduated: the units that fall in this tier, e.g. 120,000 over a 50,000
    tier 1 → 70,000 in tier 2. -#}
{% macro tier_quantity(prices, tiers) -%}
    case {{ prices }}.tiers_mode
        when 'volume' then {{ prices }}.quantity
        else (case when {{ tiers }}.up_to is not null and {{ prices }}.quantity > {{ tiers }}.up_to
                then {{ tiers }}.up_to else {{ prices }}.quantity end) - {{ tiers }}.lower_bound
    end
{%- endmacro %}

{#- P5/P6: a tier's cost, before rounding: its units × unit_amount plus its flat_amount, e.g. volume
    150,000 × 0.0007 + 10.00 = 115.00. -#}
{% macro tier_cost(tier_quantity, unit_amount, flat_amount) -%}
    ({{ tier_quantity }}) * {{ unit_amount }} + {{ flat_amount }}
{%- endmacro %}
