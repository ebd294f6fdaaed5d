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

{#- The rules that read one file (or tiers_ordered) and its references, as a list rendered by one loop below:
    file, key (the row's name in the message), rule, message, where (the bad rows), and optionally from
    (default: the file) and join. -#}
{%- set tier_key = "price_id || ' tier ' || cast(tier as " ~ s ~ ")" -%}
{%- set checks = [] -%}

{#- Meters. -#}
{%- do checks.extend([
    {'file': 'meters', 'key': 'meter', 'rule': 'invalid_aggregation',
        'message': "'aggregation ' || coalesce(aggregation, '(blank)') || ' is not one of sum, count, max, unique_count'",
        'where': "aggregation is null or aggregation not in ('sum', 'count', 'max', 'unique_count')"},
    {'file': 'meters', 'key': 'meter', 'rule': 'unique_count_without_field',
        'message': "'a unique_count meter needs unique_field (endpoint or properties.<key>)'",
        'where': "aggregation = 'unique_count' and (unique_field is null or unique_field = '')"},
    {'file': 'meters', 'key': 'meter', 'rule': 'invalid_unique_field',
        'message': "'unique_field ' || unique_field || ' is neither endpoint nor properties.<key>'",
        'where': "aggregation = 'unique_count' and unique_field <> '' and unique_field <> 'endpoint'
            and not (unique_field like 'properties.%' and " ~ dbt.length('unique_field') ~ " > 11)"},
    {'file': 'meters', 'key': 'meter', 'rule': 'invalid_billable_statuses',
        'message': "'billable_statuses ' || coalesce(billable_statuses, '(blank)') || ' is not 2xx or 2xx,4xx'",
        'where': "billable_statuses is null or billable_statuses not in ('2xx', '2xx,4xx')"},
]) -%}

{#- Plans. -#}
{%- do checks.append(
    {'file': 'plans', 'key': 'plan_id', 'rule': 'invalid_when_stale',
        'message': "'when_stale ' || when_stale || ' is not allow or block'",
        'where': "when_stale not in ('allow', 'block')"}) -%}

{#- Prices. -#}
{%- do checks.extend([
    {'file': 'prices', 'key': 'price_id', 'rule': 'invalid_billing_scheme',
        'message': "'billing_scheme ' || coalesce(billing_scheme, '(blank)') || ' is not per_unit or tiered'",
        'where': "billing_scheme is null or billing_scheme not in ('per_unit', 'tiered')"},
    {'file': 'prices', 'key': 'price_id', 'rule': 'invalid_tiers_mode',
        'message': "'tiers_mode ' || tiers_mode || ' is not graduated or volume'",
        'where': "billing_scheme = 'tiered' and tiers_mode is not null and tiers_mode not in ('graduated', 'volume')"},
    {'file': 'prices', 'key': 'price_id', 'rule': 'package_on_tiered_price',
        'message': "'package_size ' || cast(package_size as " ~ s ~ ") || ' is set on a tiered price (packages are per_unit only)'",
        'where': "billing_scheme = 'tiered' and package_size is not null and package_size <> 1"},
    {'file': 'prices', 'key': 'price_id', 'rule': 'invalid_package_size',
        'message': "'package_size ' || cast(package_size as " ~ s ~ ") || ' must be a whole number of at least 1'",
        'where': "package_size < 1"},
    {'file': 'prices', 'key': 'price_id', 'rule': 'invalid_package_rounding',
        'message': "'package_rounding ' || package_rounding || ' is not up or down'",
        'where': "package_rounding is not null and package_rounding not in ('up', 'down')"},
    {'file': 'prices', 'key': 'price_id', 'rule': 'missing_unit_amount',
        'message': "'a per_unit price needs unit_amount'",
        'where': "billing_scheme = 'per_unit' and unit_amount is null"},
    {'file': 'prices', 'key': 'price_id', 'rule': 'tiered_price_without_tiers',
        'message': "'a tiered price needs rows in price_tiers.csv'",
        'where': "billing_scheme = 'tiered' and price_id not in (select price_id from price_tiers where price_id is not null)"},
]) -%}

{#- Tiers: numbered 1, 2, 3, … with increasing up_to, open on the last tier only. -#}
{%- do checks.extend([
    {'file': 'price_tiers', 'from': 'tiers_ordered', 'key': tier_key, 'rule': 'tier_gap_or_overlap',
        'message': "case when previous_tier = tier then 'tier ' || cast(tier as " ~ s ~ ") || ' appears twice'
            else 'tier ' || cast(tier as " ~ s ~ ") || ' follows tier ' || coalesce(cast(previous_tier as " ~ s ~ "), '(none)')
                || ': tiers must be numbered 1, 2, 3, … without gaps'
        end",
        'where': "tier <> tier_position or (previous_tier is not null and previous_tier = tier)"},
    {'file': 'price_tiers', 'from': 'tiers_ordered', 'key': tier_key, 'rule': 'up_to_not_increasing',
        'message': "'up_to ' || cast(up_to as " ~ s ~ ") || ' is not above the previous tier''s up_to '
            || cast(previous_up_to as " ~ s ~ ") || ' (a gap or overlap in the tiers)'",
        'where': "up_to is not null and previous_up_to is not null and up_to <= previous_up_to"},
    {'file': 'price_tiers', 'from': 'tiers_ordered', 'key': tier_key, 'rule': 'open_tier_not_last',
        'message': "'only the last tier may have a blank up_to, but tier ' || cast(tier as " ~ s ~ ") || ' of '
            || cast(tier_count as " ~ s ~ ") || ' is open'",
        'where': "up_to is null and tier_position < tier_count"},
    {'file': 'price_tiers', 'from': 'tiers_ordered', 'key': tier_key, 'rule': 'last_tier_not_open',
        'message': "'the last tier must have a blank up_to (open), but it ends at ' || cast(up_to as " ~ s ~ ")",
        'where': "up_to is not null and tier_position = tier_count"},
]) -%}

{#- Accounts, plan history, credit grants, API keys of gateway logs (docs/gateway_logs.md: a hash, never the key). -#}
{%- do checks.extend([
    {'file': 'accounts', 'key': 'account_id', 'rule': 'invalid_anchor_day',
        'message': "'billing_anchor_day ' || cast(billing_anchor_day as " ~ s ~ ") || ' is not between 1 and 28'",
        'where': "billing_anchor_day < 1 or billing_anchor_day > 28"},
    {'file': 'account_plans', 'key': "account_id || ' from ' || coalesce(cast(valid_from as " ~ s ~ "), '(blank)')",
        'rule': 'invalid_validity',
        'message': "'valid_from must be set and before valid_to'",
        'where': "valid_from is null or (valid_to is not null and valid_to <= valid_from)"},
    {'file': 'credit_grants', 'key': 'grant_id', 'rule': 'invalid_validity',
        'message': "'effective_at must be set and before expires_at'",
        'where': "effective_at is null or (expires_at is not null and expires_at <= effective_at)"},
    {'file': 'api_keys', 'key': 'key_sha256', 'rule': 'invalid_key_hash',
        'message': "'key_sha256 must be the SHA-256 of the key as 64 lower-case hex digits (not the key itself)'",
        'where': "not coalesce(" ~ usage_billing.regex_matches('key_sha256', '[0-9a-f]{64}') ~ ", false)"},
]) -%}

{#- Amounts and settings that must not be negative: (file, key, rule, columns). -#}
{%- for file, key, rule, columns in [
        ('plans', 'plan_id', 'negative_amount', ['base_fee', 'minimum_amount', 'maximum_amount']),
        ('plans', 'plan_id', 'negative_setting', ['block_overdue_days', 'stale_after_hours']),
        ('prices', 'price_id', 'negative_amount', ['unit_amount', 'hard_limit']),
        ('price_tiers', tier_key, 'negative_amount', ['up_to', 'unit_amount', 'flat_amount']),
        ('credit_grants', 'grant_id', 'negative_amount', ['amount']),
    ] -%}
    {%- for column in columns -%}
        {%- do checks.append({'file': file, 'key': key, 'rule': rule,
            'message': "'" ~ column ~ " ' || cast(" ~ column ~ " as " ~ s ~ ") || ' is negative'",
            'where': column ~ " < 0"}) -%}
    {%- endfor -%}
{%- endfor %}

{#- References: a value that must be a row of another file ("... is not in <file>.csv").
    (file, key, column, the file it refers to, its key, join condition, rule) -#}
{%- set plan_history_key = "account_plans.account_id || ' from ' || cast(account_plans.valid_from as " ~ s ~ ")" -%}
{%- for file, key, column, to, to_key, on, rule in [
        ('plans', 'plans.plan_id', 'currency', 'currencies', 'currency',
            'lower(plans.currency) = currencies.currency', 'unknown_currency'),
        ('prices', 'prices.price_id', 'plan_id', 'plans', 'plan_id', 'prices.plan_id = plans.plan_id', 'unknown_plan'),
        ('prices', 'prices.price_id', 'meter', 'meters', 'meter', 'prices.meter = meters.meter', 'unknown_meter'),
        ('accounts', 'accounts.account_id', 'currency', 'currencies', 'currency',
            'lower(accounts.currency) = currencies.currency', 'unknown_currency'),
        ('account_plans', plan_history_key, 'account_id', 'accounts', 'account_id',
            'account_plans.account_id = accounts.account_id', 'unknown_account'),
        ('account_plans', plan_history_key, 'plan_id', 'plans', 'plan_id',
            'account_plans.plan_id = plans.plan_id', 'unknown_plan'),
        ('credit_grants', 'credit_grants.grant_id', 'account_id', 'accounts', 'account_id',
            'credit_grants.account_id = accounts.account_id', 'unknown_account'),
        ('api_keys', 'api_keys.key_sha256', 'account_id', 'accounts', 'account_id',
            'api_keys.account_id = accounts.account_id', 'unknown_account'),
    ] -%}
    {%- do checks.append({'file': file, 'key': key, 'rule': rule,
        'message': "'" ~ column ~ " ' || coalesce(" ~ file ~ "." ~ column ~ ", '(blank)') || ' is not in " ~ to ~ ".csv'",
        'join': 'left join ' ~ to ~ ' on ' ~ on,
        'where': to ~ '.' ~ to_key ~ ' is null'}) -%}
{%- endfor %}

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

    {#- The rules listed above. -#}
    {%- for check in checks %}
    select '{{ check.file }}.csv', {{ check.key }}, '{{ check.rule }}', {{ check.message }}
    from {{ check.get('from', check.file) }}
    {%- if check.join %}
    {{ check.join }}
    {%- endif %}
    where {{ check.where }}
    union all
    {%- endfor %}

    -- Rules that compare rows with each other or another file.
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
    select 'price_tiers.csv', price_tiers.price_id || ' tier ' || coalesce(cast(price_tiers.tier as {{ s }}), '(blank)'),
        'unknown_price', 'price_id ' || coalesce(price_tiers.price_id, '(blank)') || ' is not a tiered price in prices.csv'
    from price_tiers
    left join prices on price_tiers.price_id = prices.price_id and prices.billing_scheme = 'tiered'
    where prices.price_id is null
    union all
    select 'account_plans.csv', account_plans.account_id || ' from ' || cast(account_plans.valid_from as {{ s }}),
        'currency_mismatch',
        'account currency ' || accounts.currency || ' differs from plan ' || plans.plan_id || ' currency ' || plans.currency
    from account_plans
    inner join accounts on account_plans.account_id = accounts.account_id
    inner join plans on account_plans.plan_id = plans.plan_id
    where lower(accounts.currency) <> lower(plans.currency)
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

)

select
    catalog_file,
    cast(row_key as {{ s }}) as row_key,
    rule,
    catalog_file || ' (' || coalesce(cast(row_key as {{ s }}), '(blank)') || '): ' || message as message
from errors
{%- endmacro %}
