{#- Totals of closed invoices (P13), as frozen by the close. -#}
with

final_invoices as (

    select * from {{ source('ledger', 'final_invoices') }}

)

select * from final_invoices
