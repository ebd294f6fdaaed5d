{#- Catalog validation (CONTRACT.md §2): every rule as one query returning the bad rows, each with a
    message naming the file and the row by its key. int_catalog_errors materialises them and fails the
    build with all messages at once; pricing models depend on it, so they never run on a broken catalog.
    Catalog values reach SQL only as column values, never as SQL text (§4a). -#}

{% macro catalog_error_rows() -%}
{%- set s = dbt.type_string() -%}
with

meters as (select * from {{ ref('meters') }}),
currencies as (select * from {{ ref('currencies') }}),
plans as (select * from {{ ref('plans') }}),
prices as (select * from {{ ref('prices') }}),
price_tiers as (select * from {{ ref('price_tiers') }}),
accounts as (select * from {{ ref('accounts') }}),
account_plans as (select * from {{ ref('account_plans') }}),
credit_grants as (select * from {{ ref('credit_grants') }}),
api_keys as (select * from {{ ref('api_keys') }}),

tiers_ordered as (

    select
        price_tiers.*,
        row_number() over (partition by price_tiers.price_id order by price_tiers.tier) as tier_position,
        count(*) over (partition by price_tiers.price_id) as tier_count,
        lag(price_tiers.up_to) over (partition by price_tiers.price_id order by price_tiers.tier) as previous_up_to,
        lag(price_tiers.tier) over (partition by price_tiers.price_id order by price_tiers.tier) as previous_tier
    from price_tiers

),

price_endpoints as (

    select
        prices.*,
        case when prices.endpoint is null or prices.endpoint = '' or prices.endpoint = '*' then '*'
            else prices.endpoint end as endpoint_key
    from prices

),

errors as (

    {#- Keys: one row per id. -#}
    {%- for file, key in [('meters', 'meter'), ('currencies', 'currency'), ('plans', 'plan_id'),
                          ('prices', 'price_id'), ('accounts', 'account_id'), ('credit_grants', 'grant_id'),
                          ('api_keys', 'key_sha256')] %}
    select '{{ file }}.csv' as catalog_file, {{ key }} as row_key, 'duplicate_id' as rule,
        '{{ key }} ' || coalesce(cast({{ key }} as {{ s }}), '(blank)') || ' appears '
        || cast(count(*) as {{ s }}) || ' times' as message
    from {{ file }}
    group by {{ key }}
    having count(*) > 1 or {{ key }} is null
    union all
    {%- endfor %}

    -- Meters.
    select 'meters.csv', meter, 'invalid_aggregation',
        'aggregation ' || coalesce(aggregation, '(blank)') || ' is not one of sum, count, max, unique_count'
    from meters
    where aggregation is null or aggregation not in ('sum', 'count', 'max', 'unique_count')
    union all
    select 'meters.csv', meter, 'unique_count_without_field',
        'a unique_count meter needs unique_field (endpoint or properties.<key>)'
    from meters
    where aggregation = 'unique_count' and (unique_field is null or unique_field = '')
    union all
    select 'meters.csv', meter, 'invalid_unique_field',
        'unique_field ' || unique_field || ' is neither endpoint nor properties.<key>'
    from meters
    where aggregation = 'unique_count' and unique_field <> ''
        and unique_field <> 'endpoint'
        and not (unique_field like 'properties.%' and {{ dbt.length('unique_field') }} > 11)
    union all
    select 'meters.csv', meter, 'invalid_billable_statuses',
        'billable_statuses ' || coalesce(billable_statuses, '(blank)') || ' is not 2xx or 2xx,4xx'
    from meters
    where billable_statuses is null or billable_statuses not in ('2xx', '2xx,4xx')
    union all

    -- Plans.
    select 'plans.csv', plans.plan_id, 'unknown_currency',
        'currency ' || coalesce(plans.currency, '(blank)') || ' is not in currencies.csv'
    from plans
    left join currencies on lower(plans.currency) = currencies.currency
    where currencies.currency is null
    union all
    {%- for column in ['base_fee', 'minimum_amount', 'maximum_amount'] %}
    select 'plans.csv', plan_id, 'negative_amount',
        '{{ column }} ' || cast({{ column }} as {{ s }}) || ' is negative'
    from plans
    where {{ column }} < 0
    union all
    {%- endfor %}
    {%- for column in ['block_overdue_days', 'stale_after_hours'] %}
    select 'plans.csv', plan_id, 'negative_setting',
        '{{ column }} ' || cast({{ column }} as {{ s }}) || ' is negative'
    from plans
    where {{ column }} < 0
    union all
    {%- endfor %}
    select 'plans.csv', plan_id, 'invalid_when_stale',
        'when_stale ' || when_stale || ' is not allow or block'
    from plans
    where when_stale not in ('allow', 'block')
    union all

    -- Prices.
    select 'prices.csv', prices.price_id, 'unknown_plan',
        'plan_id ' || coalesce(prices.plan_id, '(blank)') || ' is not in plans.csv'
    from prices
    left join plans on prices.plan_id = plans.plan_id
    where plans.plan_id is null
    union all
    select 'prices.csv', prices.price_id, 'unknown_meter',
        'meter ' || coalesce(prices.meter, '(blank)') || ' is not in meters.csv'
    from prices
    left join meters on prices.meter = meters.meter
    where meters.meter is null
    union all
    select 'prices.csv', price_id, 'invalid_billing_scheme',
        'billing_scheme ' || coalesce(billing_scheme, '(blank)') || ' is not per_unit or tiered'
    from prices
    where billing_scheme is null or billing_scheme not in ('per_unit', 'tiered')
    union all
    select 'prices.csv', price_id, 'invalid_tiers_mode',
        'tiers_mode ' || tiers_mode || ' is not graduated or volume'
    from prices
    where billing_scheme = 'tiered' and tiers_mode is not null and tiers_mode not in ('graduated', 'volume')
    union all
    select 'prices.csv', price_id, 'package_on_tiered_price',
        'package_size ' || cast(package_size as {{ s }}) || ' is set on a tiered price (packages are per_unit only)'
    from prices
    where billing_scheme = 'tiered' and package_size is not null and package_size <> 1
    union all
    select 'prices.csv', price_id, 'invalid_package_size',
        'package_size ' || cast(package_size as {{ s }}) || ' must be a whole number of at least 1'
    from prices
    where package_size < 1
    union all
    select 'prices.csv', price_id, 'invalid_package_rounding',
        'package_rounding ' || package_rounding || ' is not up or down'
    from prices
    where package_rounding is not null and package_rounding not in ('up', 'down')
    union all
    select 'prices.csv', price_id, 'missing_unit_amount', 'a per_unit price needs unit_amount'
    from prices
    where billing_scheme = 'per_unit' and unit_amount is null
    union all
    {%- for column in ['unit_amount', 'hard_limit'] %}
    select 'prices.csv', price_id, 'negative_amount',
        '{{ column }} ' || cast({{ column }} as {{ s }}) || ' is negative'
    from prices
    where {{ column }} < 0
    union all
    {%- endfor %}
    select 'prices.csv', price_endpoints.price_id, 'duplicate_price',
        'plan ' || price_endpoints.plan_id || ', meter ' || price_endpoints.meter || ' and endpoint '
        || price_endpoints.endpoint_key || ' already have price ' || other.price_id
        || ' (blank and * are the same endpoint)'
    from price_endpoints
    inner join price_endpoints as other
        on price_endpoints.plan_id = other.plan_id
        and price_endpoints.meter = other.meter
        and price_endpoints.endpoint_key = other.endpoint_key
        and price_endpoints.price_id > other.price_id
    union all
    select 'prices.csv', prices.price_id, 'tiered_price_without_tiers', 'a tiered price needs rows in price_tiers.csv'
    from prices
    where prices.billing_scheme = 'tiered'
        and prices.price_id not in (select price_id from price_tiers where price_id is not null)
    union all

    -- Tiers.
    select 'price_tiers.csv', price_tiers.price_id || ' tier ' || coalesce(cast(price_tiers.tier as {{ s }}), '(blank)'),
        'unknown_price', 'price_id ' || coalesce(price_tiers.price_id, '(blank)') || ' is not a tiered price in prices.csv'
    from price_tiers
    left join prices on price_tiers.price_id = prices.price_id and prices.billing_scheme = 'tiered'
    where prices.price_id is null
    union all
    select 'price_tiers.csv', price_id || ' tier ' || cast(tier as {{ s }}), 'tier_gap_or_overlap',
        case when previous_tier = tier then 'tier ' || cast(tier as {{ s }}) || ' appears twice'
            else 'tier ' || cast(tier as {{ s }}) || ' follows tier ' || coalesce(cast(previous_tier as {{ s }}), '(none)')
                || ': tiers must be numbered 1, 2, 3, … without gaps'
        end
    from tiers_ordered
    where tier <> tier_position or (previous_tier is not null and previous_tier = tier)
    union all
    select 'price_tiers.csv', price_id || ' tier ' || cast(tier as {{ s }}), 'up_to_not_increasing',
        'up_to ' || cast(up_to as {{ s }}) || ' is not above the previous tier''s up_to '
        || cast(previous_up_to as {{ s }}) || ' (a gap or overlap in the tiers)'
    from tiers_ordered
    where up_to is not null and previous_up_to is not null and up_to <= previous_up_to
    union all
    select 'price_tiers.csv', price_id || ' tier ' || cast(tier as {{ s }}), 'open_tier_not_last',
        'only the last tier may have a blank up_to, but tier ' || cast(tier as {{ s }}) || ' of '
        || cast(tier_count as {{ s }}) || ' is open'
    from tiers_ordered
    where up_to is null and tier_position < tier_count
    union all
    select 'price_tiers.csv', price_id || ' tier ' || cast(tier as {{ s }}), 'last_tier_not_open',
        'the last tier must have a blank up_to (open), but it ends at ' || cast(up_to as {{ s }})
    from tiers_ordered
    where up_to is not null and tier_position = tier_count
    union all
    {%- for column in ['up_to', 'unit_amount', 'flat_amount'] %}
    select 'price_tiers.csv', price_id || ' tier ' || cast(tier as {{ s }}), 'negative_amount',
        '{{ column }} ' || cast({{ column }} as {{ s }}) || ' is negative'
    from price_tiers
    where {{ column }} < 0
    union all
    {%- endfor %}

    -- Accounts.
    select 'accounts.csv', accounts.account_id, 'unknown_currency',
        'currency ' || coalesce(accounts.currency, '(blank)') || ' is not in currencies.csv'
    from accounts
    left join currencies on lower(accounts.currency) = currencies.currency
    where currencies.currency is null
    union all
    select 'accounts.csv', account_id, 'invalid_anchor_day',
        'billing_anchor_day ' || cast(billing_anchor_day as {{ s }}) || ' is not between 1 and 28'
    from accounts
    where billing_anchor_day < 1 or billing_anchor_day > 28
    union all

    -- Plan history.
    select 'account_plans.csv', account_plans.account_id || ' from ' || cast(account_plans.valid_from as {{ s }}),
        'unknown_account', 'account_id ' || coalesce(account_plans.account_id, '(blank)') || ' is not in accounts.csv'
    from account_plans
    left join accounts on account_plans.account_id = accounts.account_id
    where accounts.account_id is null
    union all
    select 'account_plans.csv', account_plans.account_id || ' from ' || cast(account_plans.valid_from as {{ s }}),
        'unknown_plan', 'plan_id ' || coalesce(account_plans.plan_id, '(blank)') || ' is not in plans.csv'
    from account_plans
    left join plans on account_plans.plan_id = plans.plan_id
    where plans.plan_id is null
    union all
    select 'account_plans.csv', account_plans.account_id || ' from ' || cast(account_plans.valid_from as {{ s }}),
        'currency_mismatch',
        'account currency ' || accounts.currency || ' differs from plan ' || plans.plan_id || ' currency ' || plans.currency
    from account_plans
    inner join accounts on account_plans.account_id = accounts.account_id
    inner join plans on account_plans.plan_id = plans.plan_id
    where lower(accounts.currency) <> lower(plans.currency)
    union all
    select 'account_plans.csv', account_id || ' from ' || coalesce(cast(valid_from as {{ s }}), '(blank)'),
        'invalid_validity', 'valid_from must be set and before valid_to'
    from account_plans
    where valid_from is null or (valid_to is not null and valid_to <= valid_from)
    union all
    select 'account_plans.csv', account_plans.account_id || ' from ' || cast(account_plans.valid_from as {{ s }}),
        'overlapping_plans',
        'plan ' || account_plans.plan_id || ' overlaps plan ' || other.plan_id || ' from '
        || cast(other.valid_from as {{ s }}) || ' (one plan at a time per account)'
    from account_plans
    inner join account_plans as other
        on account_plans.account_id = other.account_id
        and account_plans.valid_from < other.valid_from
        and (account_plans.valid_to is null or account_plans.valid_to > other.valid_from)
    union all
    select 'account_plans.csv', account_plans.account_id || ' from ' || cast(account_plans.valid_from as {{ s }}),
        'overlapping_plans', 'two plans start on the same day'
    from account_plans
    inner join account_plans as other
        on account_plans.account_id = other.account_id
        and account_plans.valid_from = other.valid_from
        and account_plans.plan_id > other.plan_id
    union all

    -- Credit grants.
    select 'credit_grants.csv', credit_grants.grant_id, 'unknown_account',
        'account_id ' || coalesce(credit_grants.account_id, '(blank)') || ' is not in accounts.csv'
    from credit_grants
    left join accounts on credit_grants.account_id = accounts.account_id
    where accounts.account_id is null
    union all
    select 'credit_grants.csv', grant_id, 'negative_amount', 'amount ' || cast(amount as {{ s }}) || ' is negative'
    from credit_grants
    where amount < 0
    union all
    select 'credit_grants.csv', grant_id, 'invalid_validity', 'effective_at must be set and before expires_at'
    from credit_grants
    where effective_at is null or (expires_at is not null and expires_at <= effective_at)
    union all

    -- API keys of gateway logs (docs/gateway_logs.md): a hash, never the key.
    select 'api_keys.csv', api_keys.key_sha256, 'unknown_account',
        'account_id ' || coalesce(api_keys.account_id, '(blank)') || ' is not in accounts.csv'
    from api_keys
    left join accounts on api_keys.account_id = accounts.account_id
    where accounts.account_id is null
    union all
    select 'api_keys.csv', key_sha256, 'invalid_key_hash',
        'key_sha256 must be the SHA-256 of the key as 64 lower-case hex digits (not the key itself)'
    from api_keys
    where not coalesce({{ usage_billing.regex_matches('key_sha256', '[0-9a-f]{64}') }}, false)

)

select
    catalog_file,
    cast(row_key as {{ s }}) as row_key,
    rule,
    catalog_file || ' (' || coalesce(cast(row_key as {{ s }}), '(blank)') || '): ' || message as message
from errors
{%- endmacro %}
