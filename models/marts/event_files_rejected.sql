{#- Files under the events location that are not loaded, from each file's latest check: damaged event
    files (rejected), files that are not event files (unsupported), and loaded objects overwritten since
    (changed: their new content is not loaded). -#}
with

file_checks as (

    select * from {{ ref('stg_raw_events__event_files') }}

),

staged_lines as (

    select * from {{ ref('stg_raw_events__usage_events') }}

),

staged_files as (

    select distinct source_file from staged_lines

),

ranked_checks as (

    select
        file_checks.*,
        row_number() over (partition by source_file order by checked_at desc) as check_rank
    from file_checks

),

latest_checks as (

    select * from ranked_checks
    where check_rank = 1 and status in ('rejected', 'unsupported', 'changed')

),

-- The first check of the file's current state (an unchanged file is not checked again).
first_checks as (

    select
        source_file,
        min(checked_at) as first_checked_at
    from file_checks
    where status in ('rejected', 'unsupported', 'changed')
    group by source_file

),

final as (

    select
        latest_checks.source_file,
        latest_checks.reason,
        latest_checks.detail,
        latest_checks.status = 'rejected' as is_damaged,
        latest_checks.size_bytes,
        latest_checks.checksum,
        first_checks.first_checked_at,
        latest_checks.checked_at as last_checked_at
    from latest_checks
    inner join first_checks
        on latest_checks.source_file = first_checks.source_file
    left join staged_files
        on latest_checks.source_file = staged_files.source_file
    where staged_files.source_file is null or latest_checks.status = 'changed'

)

select * from final
