{#- Kept events rolled up per account, meter, endpoint, status and UTC day, with the account's
    billing period (P1) and billability (E4). Plans change on whole days (dates mean 00:00 UTC),
    so a day's usage is always priced by a single plan; pricing reads this instead of events.
    For a unique_count meter the rows are also split by the counted value (P3, §3a: its JSON
    text, nulls ignored), so distinct values can be counted over any span of days. -#}
with

usage_events as (

    select * from {{ ref('int_usage_events_deduplicated') }}

),

accounts as (

    select * from {{ ref('accounts') }}

),

meters as (

    select * from {{ ref('meters') }}

),

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
        cast(usage_events.event_at as date) as usage_date,
        {{ usage_billing.unique_value('usage_events', 'meters') }} as unique_value
    from usage_events
    left join meters
        on usage_events.meter = meters.meter

),

daily_totals as (

    select
        account_id,
        meter,
        endpoint,
        status_code,
        usage_date,
        unique_value,
        sum(units) as units_sum,
        max(units) as units_max,
        count(*) as event_count
    from classified_events
    group by account_id, meter, endpoint, status_code, usage_date, unique_value

),

daily_usage as (

    select
        daily_totals.account_id,
        daily_totals.meter,
        daily_totals.endpoint,
        daily_totals.status_code,
        daily_totals.usage_date,
        daily_totals.unique_value,
        {{ usage_billing.period_start_for(
            'daily_totals.usage_date', 'coalesce(accounts.billing_anchor_day, 1)'
        ) }} as period_start,
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
        daily_totals.units_sum,
        daily_totals.units_max,
        daily_totals.event_count
    from daily_totals
    left join accounts
        on daily_totals.account_id = accounts.account_id
    left join meters
        on daily_totals.meter = meters.meter

),

final as (

    select
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
        event_count
    from daily_usage

)

select * from final
