{#- Final lines of closed invoices (P13), as frozen by the close. -#}
with

final_invoice_lines as (

    select * from {{ source('ledger', 'final_invoice_lines') }}

)

select * from final_invoice_lines
