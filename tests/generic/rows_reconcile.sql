{#- E3 conservation: per file, rows read = valid (kept) + duplicates + quarantined; and in total,
    every staged row is in some file's count and every kept event is counted once as valid. -#}
{% test rows_reconcile(model, staged, kept) %}
with

per_file as (

    select
        source_file,
        'rows_read <> valid + duplicates + quarantined' as problem
    from {{ model }}
    where rows_read <> rows_valid + rows_duplicate + rows_quarantined
        or rows_conflict > rows_duplicate
        or rows_valid < 0 or rows_duplicate < 0 or rows_quarantined < 0

),

totals as (

    select
        'all files' as source_file,
        'totals do not match staged rows or kept events' as problem
    from (select sum(rows_read) as rows_read, sum(rows_valid) as rows_valid from {{ model }}) as reconciled
    cross join (select count(*) as staged_rows from {{ staged }}) as staged
    cross join (select count(*) as kept_events from {{ kept }}) as kept
    where coalesce(reconciled.rows_read, 0) <> staged.staged_rows
        or coalesce(reconciled.rows_valid, 0) <> kept.kept_events

)

select * from per_file
union all
select * from totals
{% endtest %}
