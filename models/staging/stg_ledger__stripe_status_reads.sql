{#- When payment statuses were last read from Stripe (one row: the latest read). -#}
with

status_reads as (

    select * from {{ source('ledger', 'stripe_status_reads') }}

),

final as (

    select
        max(read_at) as last_read_at,
        count(*) as reads
    from status_reads

)

select * from final
