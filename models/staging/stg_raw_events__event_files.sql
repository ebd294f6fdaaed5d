{#- One row per check of a file the events location matches and staging has not loaded yet: whether it
    can be read (ok; lines: read line by line; rejected: not loaded at all; unsupported: not an event
    file), and why; and, on object storage, of a loaded object overwritten since (changed). Append only:
    the history of every check. A rejected file is checked again only when its size or checksum changed;
    a file is loaded by stg_raw_events__usage_events in the run that found it readable. -#}
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

{#- Object storage: a loaded object overwritten since (another size or version than at its load) is
    reported once per new version, as status changed (reason changed_after_load) and a warning. Its new
    content is never loaded, so nothing is billed twice; back as it was loaded, it is ok again. -#}
{%- set changed_objects = [] %}
{%- if execute and is_incremental() %}
    {#- Loaded objects by staged name, with the object each reads (a gateway log's name is <object>#<source>). -#}
    {%- set loaded_objects = {} %}
    {%- for f in listed if f in loaded %}
        {%- set read_from = mapped[f][0] if f in mapped else f %}
        {%- if usage_billing.object_scheme(read_from) != '' %}{% do loaded_objects.update({f: read_from}) %}{% endif %}
    {%- endfor %}
    {%- set at_load = {} %}
    {%- set last_seen = {} %}
    {%- if loaded_objects | length > 0 %}
        {%- set object_checks = run_query(
            "select source_file, size_bytes, checksum, last_rank, load_rank from ("
            ~ " select source_file, size_bytes, checksum,"
            ~ " row_number() over (partition by source_file order by checked_at desc) as last_rank,"
            ~ " row_number() over (partition by source_file order by case when status in ('ok', 'lines')"
            ~ " then 0 else 1 end, checked_at desc) as load_rank"
            ~ " from " ~ this ~ " where status in ('ok', 'lines', 'changed')) as object_checks"
            ~ " where last_rank = 1 or load_rank = 1") %}
        {%- for row in object_checks.rows %}
            {%- set version = [row[1] | int if row[1] is not none else none, row[2]] %}
            {%- if row[3] == 1 %}{% do last_seen.update({row[0]: version}) %}{% endif %}
            {%- if row[4] == 1 %}{% do at_load.update({row[0]: version}) %}{% endif %}
        {%- endfor %}
    {%- endif %}
    {%- set current = usage_billing.object_versions(loaded_objects.values() | unique | list) %}
    {%- for f, read_from in loaded_objects.items() if f in at_load and read_from in current %}
        {%- set now = [current[read_from][0] | int if current[read_from][0] is not none else none, current[read_from][1]] %}
        {%- if now != last_seen[f] %}
            {%- set restored = now == at_load[f] %}
            {%- set detail = 'as it was loaded again' if restored else (
                'overwritten after it was loaded (' ~ at_load[f][0] ~ ' → ' ~ now[0] ~ ' bytes, '
                ~ at_load[f][1] ~ ' → ' ~ now[1] ~ '): the loaded content stays billed, the new one is '
                ~ 'not loaded; write new objects instead') %}
            {%- do changed_objects.append({'path': f, 'restored': restored, 'detail': detail, 'size': now[0], 'version': now[1]}) %}
            {%- if not restored %}
                {%- do exceptions.warn('Event object changed after it was loaded: ' ~ f ~ ': ' ~ detail) %}
            {%- endif %}
        {%- endif %}
    {%- endfor %}
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
    {%- for c in changed_objects %}
    union all
    select
        {{ usage_billing.sql_string(c.path) }},
        '{{ "ok" if c.restored else "changed" }}',
        '{{ "unchanged_since_load" if c.restored else "changed_after_load" }}',
        {{ usage_billing.sql_string(c.detail) }},
        cast({{ c.size if c.size is not none else 'null' }} as {{ dbt.type_bigint() }}),
        {{ usage_billing.sql_string(c.version) if c.version is not none else 'cast(null as ' ~ dbt.type_string() ~ ')' }},
        cast(null as {{ dbt.type_string() }})
    {%- endfor %}

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
