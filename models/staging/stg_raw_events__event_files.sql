{#- One row per check of a file the events location matches and staging has not loaded yet: whether it
    can be read (ok; lines: read line by line; rejected: not loaded at all; unsupported: not an event
    file), and why. Append only: the history of every check. A rejected file is checked again only when
    its size or checksum changed; a file is loaded by stg_raw_events__usage_events in the run that
    found it readable. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{%- set glob = var('events_glob') %}
{#- Files of the gateway-log sources (event_sources.csv) are staged as `<file>#<source_id>` and read
    through their mapping; the events location's other files are read as the contract's events. -#}
{%- set mapped = usage_billing.event_source_files(usage_billing.event_sources()) %}
{%- set mapped_paths = [] %}
{%- for name in mapped %}{% do mapped_paths.append(mapped[name][0]) %}{% endfor %}
{%- set listed = usage_billing.list_event_files(glob) | reject('in', mapped_paths) | list + mapped.keys() | sort %}

{#- Files staging holds already (its previous state; it is built after this model in the same run). -#}
{%- set staged = adapter.get_relation(this.database, this.schema, 'stg_raw_events__usage_events') if execute else none %}
{%- set loaded = [] %}
{%- set rejected = {} %}
{%- if execute and is_incremental() %}
    {%- if staged is not none %}
        {%- set loaded = run_query('select distinct source_file from ' ~ staged).columns[0].values() | list %}
    {%- endif %}
    {%- set previous = run_query(
        "select source_file, size_bytes, checksum from ("
        ~ " select *, row_number() over (partition by source_file order by checked_at desc) as check_rank"
        ~ " from " ~ this ~ ") as checks where check_rank = 1 and status in ('rejected', 'unsupported')") %}
    {%- for row in previous.rows %}{% do rejected.update({row[0]: [row[1], row[2]]}) %}{% endfor %}
{%- endif %}
{%- if execute %}
    {{ usage_billing.check_events_location(glob, listed, loaded | length > 0 or rejected | length > 0) }}
{%- endif %}

{%- set candidates = [] %}
{%- for f in listed if f not in loaded %}
    {%- set known = rejected.get(f, [none, none]) %}
    {%- do candidates.append([f, known[0], known[1]] + ([mapped[f][0], mapped[f][1].format] if f in mapped else [])) %}
{%- endfor %}

-- depends_on: {{ source('raw_events', 'usage_events') }}
-- depends_on: {{ ref('event_sources') }}

with

checked_files as (

    {{ usage_billing.inspect_event_files(candidates) }}

),

final as (

    select
        source_file,
        status,
        reason,
        detail,
        size_bytes,
        checksum,
        sidecar,
        {{ usage_billing.run_started_timestamp() }} as checked_at
    from checked_files
    -- A rejected file whose bytes did not change is not checked again: its last check stands.
    where status <> 'unchanged'

)

select * from final
