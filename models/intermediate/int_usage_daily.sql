{#- Kept events rolled up per account, meter, endpoint, status and UTC day, with the account's
    billing period (P1) and billability (E4). Plans change on whole days (dates mean 00:00 UTC),
    so a day's usage is always priced by a single plan; pricing reads this instead of events.
    For a unique_count meter the rows are also split by the counted value (P3, §3a: its JSON
    text, nulls ignored), so distinct values can be counted over any span of days.

    Kept up to date from the dedupe's changes (macros/rollups.sql): the kept versions loaded after this
    table's last load are added, the superseded versions it had absorbed are taken away. Sums and counts
    add up; a group's max is recounted from its own events when a copy taken away may have been its max
    (the same copy re-sent unchanged is not taken away from the max). A group left with no event is
    deleted. Rebuilt from every kept event when the catalog changed (accounts and meters classify here). -#}
{{ usage_billing.rollup_config('rollup_upsert', record_watermark=false, unique_key='usage_key') }}

{%- set event_columns = ['event_id', 'account_id', 'meter', 'endpoint', 'status_code', 'units', 'event_at', 'properties'] %}

with

accounts as (

    select * from {{ ref('accounts') }}

),

meters as (

    select * from {{ ref('meters') }}

),

{% if is_incremental() %}
{%- set absorbed_through = usage_billing.loaded_through(this, 'last_loaded_at') %}
-- Read straight from the table (not through a CTE of all kept events, which DuckDB would materialize
-- whole because it is read twice), so the watermark skips the row groups of older loads.
added_events as (

    select {{ event_columns | join(', ') }}, last_loaded_at
    from {{ ref('int_usage_events_deduplicated') }}
    where last_loaded_at > {{ absorbed_through }}

),

removed_events as (

    select {{ event_columns | join(', ') }}, superseded_at as last_loaded_at
    -- (read by name: the dedupe, this model's parent, runs after it, so dbt needs no ref to order them)
    from {{ usage_billing.intermediate_relation(this, 'int_usage_events_superseded') }}
    where
        superseded_at > {{ absorbed_through }}
        and last_loaded_at <= {{ absorbed_through }}

),

-- A removed copy may have been its group's max, unless the same run adds the same copy back unchanged
-- (a plain re-send). The max of those groups is recounted from every kept event of the same account,
-- meter and day (sign 0: counted for the max only).
recounted_days as (

    select distinct
        removed_events.account_id,
        removed_events.meter,
        cast(removed_events.event_at as date) as usage_date
    from removed_events
    where not exists (
        select 1
        from added_events
        where
            added_events.event_id = removed_events.event_id
            and added_events.account_id = removed_events.account_id
            and added_events.meter = removed_events.meter
            and added_events.endpoint is not distinct from removed_events.endpoint
            and added_events.status_code = removed_events.status_code
            and added_events.units = removed_events.units
            and cast(added_events.event_at as date) = cast(removed_events.event_at as date)
            and added_events.properties is not distinct from removed_events.properties
    )

),

usage_events as (

    select *, 1 as event_sign from added_events
    union all
    select *, -1 as event_sign from removed_events
    union all
    select
        {%- for column in event_columns %}
        kept_events.{{ column }},
        {%- endfor %}
        kept_events.last_loaded_at,
        0 as event_sign
    from {{ ref('int_usage_events_deduplicated') }} as kept_events
    inner join recounted_days
        on kept_events.account_id = recounted_days.account_id
        and kept_events.meter = recounted_days.meter
        and cast(kept_events.event_at as date) = recounted_days.usage_date

),
{% else %}
usage_events as (

    select {{ event_columns | join(', ') }}, last_loaded_at, 1 as event_sign
    from {{ ref('int_usage_events_deduplicated') }}

),
{% endif %}

-- The counted value needs the meter's settings, so meters are joined before the roll-up; the
-- account's settings and billability depend only on the grain's columns and are joined after it,
-- on the (much fewer) daily rows.
classified_events as (

    select
        usage_events.account_id,
        usage_events.meter,
        usage_events.endpoint,
        usage_events.status_code,
        usage_events.units,
        usage_events.event_sign,
        usage_events.last_loaded_at,
        cast(usage_events.event_at as date) as usage_date,
        {{ usage_billing.unique_value('usage_events', 'meters') }} as unique_value
    from usage_events
    left join meters
        on usage_events.meter = meters.meter

),

daily_changes as (

    select
        {{ usage_billing.usage_key() }} as usage_key,
        account_id,
        meter,
        endpoint,
        status_code,
        usage_date,
        unique_value,
        sum(case event_sign when 1 then units when -1 then -units else 0 end) as units_sum,
        max(case when event_sign = 1 then units end) as units_max,
        max(case when event_sign = 0 then units end) as recounted_units_max,
        sum(event_sign) as event_count,
        max(case when event_sign <> 0 then last_loaded_at end) as last_loaded_at
    from classified_events
    group by account_id, meter, endpoint, status_code, usage_date, unique_value

),

{% if is_incremental() %}
-- The groups' rows before this run, added to.
daily_totals as (

    select
        daily_changes.usage_key,
        daily_changes.account_id,
        daily_changes.meter,
        daily_changes.endpoint,
        daily_changes.status_code,
        daily_changes.usage_date,
        daily_changes.unique_value,
        coalesce(previous_totals.units_sum, 0) + daily_changes.units_sum as units_sum,
        coalesce(
            daily_changes.recounted_units_max,
            case
                when previous_totals.units_max is null then daily_changes.units_max
                when daily_changes.units_max > previous_totals.units_max then daily_changes.units_max
                else previous_totals.units_max
            end
        ) as units_max,
        coalesce(previous_totals.event_count, 0) + daily_changes.event_count as event_count,
        coalesce(daily_changes.last_loaded_at, previous_totals.last_loaded_at) as last_loaded_at
    from daily_changes
    left join {{ this }} as previous_totals
        on daily_changes.usage_key = previous_totals.usage_key

),
{% else %}
daily_totals as (

    select * from daily_changes

),
{% endif %}

daily_usage as (

    select
        daily_totals.usage_key,
        daily_totals.account_id,
        daily_totals.meter,
        daily_totals.endpoint,
        daily_totals.status_code,
        daily_totals.usage_date,
        daily_totals.unique_value,
        {{ usage_billing.account_period_start('daily_totals.usage_date', 'accounts') }} as period_start,
        accounts.account_id is not null as is_known_account,
        coalesce(accounts.is_test, false) as is_test_account,
        meters.meter is not null as is_known_meter,
        -- E4: 2xx always; 4xx where the meter allows it; 1xx, 3xx, 5xx never.
        (
            (daily_totals.status_code between 200 and 299)
            or (
                daily_totals.status_code between 400 and 499
                and {{ dbt.position("'4xx'", 'coalesce(meters.billable_statuses, \'\')') }} > 0
            )
        ) as is_billable,
        cast(daily_totals.units_sum as {{ usage_billing.type_quantity() }}) as units_sum,
        cast(daily_totals.units_max as {{ usage_billing.type_quantity() }}) as units_max,
        cast(daily_totals.event_count as {{ dbt.type_bigint() }}) as event_count,
        daily_totals.last_loaded_at
    from daily_totals
    left join accounts
        on daily_totals.account_id = accounts.account_id
    left join meters
        on daily_totals.meter = meters.meter

),

final as (

    select
        usage_key,
        account_id,
        meter,
        endpoint,
        status_code,
        {{ dbt.concat(["cast(floor(status_code / 100) as " ~ dbt.type_int() ~ ")", "'xx'"]) }} as status_class,
        usage_date,
        unique_value,
        period_start,
        {{ usage_billing.add_months('period_start', '1') }} as period_end,
        is_known_account,
        is_test_account,
        is_known_meter,
        is_billable,
        units_sum,
        units_max,
        event_count,
        last_loaded_at
    from daily_usage

)

select * from final
