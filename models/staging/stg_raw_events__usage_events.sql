{#- Every non-blank raw line, parsed and validated (CONTRACT.md §1, E1), loaded once per file:
    a file already loaded is never read again (incremental by file, append only). The files are the ones
    stg_raw_events__event_files found readable in this run; a line that cannot be read as text arrives
    with its read_error and is quarantined with it. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{%- set to_load = usage_billing.files_to_load(
        ref('stg_raw_events__event_files'),
        this if is_incremental() else none
    ) %}
{#- Gateway logs (event_sources.csv) are read through their mapping (macros/event_sources.sql). -#}
{%- set to_load_names = [] %}
{%- for f in to_load %}{% do to_load_names.append(f[0]) %}{% endfor %}
{%- set mapped = usage_billing.mapped_event_files(to_load_names, usage_billing.event_sources()) if to_load else {} %}
{%- set event_files, mapped_files = [], [] %}
{%- set sidecars = {} %}
{%- for f in to_load %}
    {%- do (mapped_files if f[0] in mapped else event_files).append(f[0]) %}
    {%- if f[1] %}{% do sidecars.update({f[0]: f[1]}) %}{% endif %}
{%- endfor %}

{#- Parquet files whose columns have plain types are read as typed rows (no JSON text per row); every
    other file is read line by line as JSON text. Both reach `field_values` with the same columns. -#}
{%- set typed_files = usage_billing.typed_event_files(event_files | reject('in', sidecars) | list) %}
{%- set line_files = [] %}
{%- for f in event_files if f not in typed_files %}{% do line_files.append(f) %}{% endfor %}
{%- set fast_path = usage_billing.staging_fast_path_enabled() %}
{%- do log('stg_raw_events__usage_events: ' ~ (event_files | length) ~ ' new event file(s), '
    ~ (typed_files | length) ~ ' read as typed Parquet rows'
    ~ (', ' ~ (mapped_files | length) ~ ' gateway log(s)' if mapped_files else '')
    ~ (', plain lines on the fast path' if fast_path else ''), info=true) %}

-- depends_on: {{ source('raw_events', 'usage_events') }}
-- depends_on: {{ ref('event_sources') }}
-- depends_on: {{ ref('api_keys') }}

with

raw_lines as (

    {{ usage_billing.read_event_lines(line_files, sidecars) }}
    {%- if mapped_files %}
    union all
    {{ usage_billing.read_mapped_event_lines(mapped_files, mapped, sidecars) }}
    {%- endif %}

),

-- E3: a blank (empty or whitespace-only) line is not a row.
non_blank_lines as (

    select * from raw_lines
    where raw is not null and (read_error is not null or not {{ usage_billing.regex_matches('raw', '\\s*') }})

),

{%- if fast_path %}

{#- The fast path. One typed parse per line gives each key's value as text (strings decoded, other
    values as their JSON text, null when absent or null) and properties as JSON text. A line whose
    values have the plain shape nearly every event has (usage_billing.is_plain_event) is valid by
    construction: its columns follow from those texts directly. Every other line takes the full path
    below, which reads the JSON type of each key, with the same reasons and line numbers. -#}
{%- set typed_keys = {
    'event_id': 'VARCHAR', 'account_id': 'VARCHAR', 'customer_id': 'VARCHAR', 'user_id': 'VARCHAR',
    'meter': 'VARCHAR', 'event_name': 'VARCHAR', 'units': 'VARCHAR', 'quantity': 'VARCHAR',
    'endpoint': 'VARCHAR', 'status_code': 'VARCHAR', 'timestamp': 'VARCHAR', 'properties': 'JSON',
    'metadata': 'VARCHAR',
} %}

typed_lines as (

    select
        source_file,
        line_number,
        raw,
        read_error,
        {{ usage_billing.json_extract_typed('raw', typed_keys) }} as line_values
    from non_blank_lines

),

line_texts as (

    select
        source_file,
        line_number,
        raw,
        read_error,
        {{- usage_billing.json_fields_columns('line_values', typed_keys, '_value') }}
    from typed_lines

),

-- Aliases (§1): the first key whose value is not null wins.
plain_texts as (

    select
        source_file,
        line_number,
        raw,
        read_error,
        event_id_value as event_id_text,
        coalesce(account_id_value, customer_id_value, user_id_value) as account_text,
        coalesce(meter_value, event_name_value) as meter_text,
        coalesce(units_value, quantity_value) as units_text,
        endpoint_value as endpoint_text,
        status_code_value as status_text,
        metadata_value as metadata_text,
        properties_value as properties,
        {{ usage_billing.iso_timestamp_utc('timestamp_value') }} as event_at
    from line_texts

),

classified as {{ usage_billing.materialized_cte() }} (

    select
        source_file,
        line_number,
        read_error,
        is_plain,
        -- Only the full path reads the line again.
        case when not is_plain then raw end as raw,
        case when is_plain then event_id_text end as event_id_text,
        case when is_plain then account_text end as account_text,
        case when is_plain then meter_text end as meter_text,
        case when is_plain then units_text end as units_text,
        case when is_plain then endpoint_text end as endpoint_text,
        case when is_plain then status_text end as status_text,
        case when is_plain then properties end as properties,
        case when is_plain then event_at end as event_at
    from (
        select
            plain_texts.*,
            read_error is null and {{ usage_billing.is_plain_event({
                'event_id': 'event_id_text', 'account': 'account_text', 'meter': 'meter_text',
                'units': 'units_text', 'endpoint': 'endpoint_text', 'status': 'status_text',
                'metadata': 'metadata_text', 'event_at': 'event_at',
            }) }} as is_plain
        from plain_texts
    ) as classified_texts

),

-- The columns of the full path's `normalised`, which it joins below.
plain_values as (

    select
        source_file,
        line_number,
        cast(null as {{ dbt.type_string() }}) as invalid_reason,
        true as is_valid,
        nullif(event_id_text, '') as sender_event_id,
        account_text as account_id,
        coalesce(nullif(meter_text, ''), 'api_calls') as meter,
        cast(coalesce(units_text, '1') as {{ usage_billing.type_quantity() }}) as units,
        event_at,
        {{ usage_billing.endpoint_without_query('endpoint_text') }} as endpoint,
        coalesce(cast(status_text as integer), 200) as status_code,
        properties,
        cast(null as {{ dbt.type_string() }}) as metadata,
        cast(null as {{ dbt.type_string() }}) as raw
    from classified
    where is_plain

),

-- The full path reads the other lines.
other_lines as (

    select
        source_file,
        line_number,
        raw,
        read_error
    from classified
    where not is_plain

),
{%- endif %}

{#- Every key the contract reads, parsed out of the line in one pass; metadata.endpoint and
    metadata.status are read from the (small) metadata fragment. Aliases are in precedence order. -#}
{%- set top_keys = [
    'event_id', 'account_id', 'customer_id', 'user_id', 'meter', 'event_name', 'units', 'quantity',
    'endpoint', 'status_code', 'timestamp', 'properties', 'metadata',
] %}
{%- set metadata_keys = ['endpoint', 'status'] %}
{%- set aliases = {
    'account': ['account_id', 'customer_id', 'user_id'],
    'meter': ['meter', 'event_name'],
    'units': ['units', 'quantity'],
    'endpoint': ['endpoint', 'metadata_endpoint'],
    'status': ['status_code', 'metadata_status'],
} %}

documents as (

    select
        source_file,
        line_number,
        raw,
        read_error,
        {{ usage_billing.json_root_type('raw') }} as doc_type,
        {{ usage_billing.json_extract_fields('raw', top_keys) }} as doc_fields
    from {{ 'other_lines' if fast_path else 'non_blank_lines' }}

),

top_fields as (

    select
        source_file,
        line_number,
        raw,
        read_error,
        doc_type,
        {{- usage_billing.json_fields_columns('doc_fields', top_keys, '_json') }}
    from documents

),

field_json as (

    select
        top_fields.*,
        {{ usage_billing.json_extract_fields('metadata_json', metadata_keys) }} as metadata_fields
    from top_fields

),

field_types as (

    select
        field_json.*,
        {%- for key in metadata_keys %}
        {{ usage_billing.json_fields_item('metadata_fields', loop.index) }} as metadata_{{ key }}_json,
        {{ usage_billing.json_type_of(usage_billing.json_fields_item('metadata_fields', loop.index)) }} as metadata_{{ key }}_type,
        {%- endfor %}
        {%- for name in top_keys[:11] %}
        {{ usage_billing.json_type_of(name ~ '_json') }} as {{ name }}_type{{ ',' if not loop.last }}
        {%- endfor %}
    from field_json

),

{%- set value_keys = top_keys[:11] + ['metadata_endpoint', 'metadata_status'] %}

-- Each key's JSON type and its value as text (strings unquoted).
line_values as (

    select
        source_file,
        line_number,
        raw,
        read_error,
        doc_type,
        properties_json as properties,
        metadata_json as metadata,
        {%- for key in value_keys %}
        {{ key }}_type,
        {{ usage_billing.json_text(key ~ '_json') }} as {{ key }}_text{{ ',' if not loop.last }}
        {%- endfor %}
    from field_types

),

-- The same columns read from typed Parquet columns: their types are known, so no JSON is parsed
-- except a row's metadata; the row's JSON text (raw) is written as the line path would read it.
typed_values as (

    {{ usage_billing.read_typed_event_values(typed_files, value_keys) }}

),

field_values as (

    select * from line_values
    union all
    select * from typed_values

),

-- Aliases (§1): the first key whose value is not null wins, in the contract's order.
fields as (

    select
        source_file,
        line_number,
        raw,
        read_error,
        doc_type,
        event_id_type,
        event_id_text,
        timestamp_type,
        timestamp_text,
        properties,
        metadata,
        {%- for field, keys in aliases.items() %}
        case
            {%- for key in keys %}
            when coalesce({{ key }}_type, 'NULL') <> 'NULL' then '{{ key }}'
            {%- endfor %}
        end as {{ field }}_key,
        case
            {%- for key in keys %}
            when coalesce({{ key }}_type, 'NULL') <> 'NULL' then {{ key }}_type
            {%- endfor %}
        end as {{ field }}_type,
        {{ 'trim(' if field in ('units', 'status') }}case
            {%- for key in keys %}
            when coalesce({{ key }}_type, 'NULL') <> 'NULL' then {{ key }}_text
            {%- endfor %}
        end{{ ')' if field in ('units', 'status') }} as {{ field }}_text{{ ',' if not loop.last }}
        {%- endfor %}
    from field_values

),

status_plain as (

    select
        fields.*,
        -- The usual status, one to three digits (200, "404"), is read as an integer directly.
        coalesce(
            status_type in ('NUMBER', 'VARCHAR') and {{ usage_billing.regex_matches('status_text', '[0-9]{1,3}') }},
            false
        ) as is_plain_status
    from fields

),

status_parsed as (

    select
        status_plain.*,
        -- Any other status: a number or numeric string, read once (it must then be whole: 200.0, "2e2").
        case
            when not is_plain_status
                and status_type in ('NUMBER', 'VARCHAR')
                and {{ usage_billing.regex_matches('status_text', '[0-9]+([.][0-9]+)?([eE][+-]?[0-9]+)?') }}
                then {{ usage_billing.try_cast('status_text', usage_billing.type_wide()) }}
        end as status_number
    from status_plain

),

typed as (

    select
        status_parsed.*,
        -- Units: a non-negative number or numeric string; at most 9 fraction digits (trailing zeros ignored).
        case
            when units_key is null then 1
            when units_type = 'NUMBER'
                and {{ usage_billing.regex_matches('units_text', '-?[0-9]+([.][0-9]+)?([eE][+-]?[0-9]+)?') }}
                then {{ usage_billing.try_cast('units_text', usage_billing.type_wide()) }}
            -- A numeric string: digits, optional fraction and exponent ("5.", ".5", "+5" are not numbers).
            when units_type = 'VARCHAR'
                and {{ usage_billing.regex_matches('units_text', '[0-9]+([.][0-9]+)?([eE][+-]?[0-9]+)?') }}
                then {{ usage_billing.try_cast('units_text', usage_billing.type_wide()) }}
        end as units_wide,
        {{ usage_billing.iso_timestamp_utc('timestamp_text') }} as event_at,
        case
            when status_key is null then 200
            when is_plain_status then cast(status_text as integer)
            when status_number = round(status_number, 0) and status_number < 1000
                then cast(status_number as integer)
        end as status_code_parsed
    from status_parsed

),

validated as (

    select
        typed.*,
        case
            -- The line could not be read as text (intake: invalid_utf8, stray_carriage_return, line_too_long).
            when read_error is not null then read_error
            -- A raw control character (other than tab) is never valid JSON; name it rather than not_json.
            when doc_type is null and {{ usage_billing.regex_contains('raw', '[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f]') }}
                then 'control_character'
            when doc_type is null then 'not_json'
            when doc_type <> 'OBJECT' then 'not_object'
            when event_id_type in ('OBJECT', 'ARRAY', 'BOOLEAN') then 'invalid_event_id'
            when account_key is null or (account_type = 'VARCHAR' and account_text = '') then 'missing_account'
            when account_type not in ('VARCHAR', 'NUMBER') then 'invalid_account'
            when timestamp_type is null or timestamp_type = 'NULL' then 'missing_timestamp'
            when timestamp_type <> 'VARCHAR' or event_at is null then 'invalid_timestamp'
            when meter_key is not null and meter_type <> 'VARCHAR' then 'invalid_meter'
            when units_wide is null then 'invalid_units'
            when units_wide < 0 then 'negative_units'
            -- At most 15 integer digits: every product with a price stays exact in the money types.
            when units_wide >= cast('1000000000000000' as {{ usage_billing.type_wide() }}) then 'units_out_of_range'
            when units_wide <> round(units_wide, 9) then 'units_too_precise'
            when endpoint_key is not null and endpoint_type <> 'VARCHAR' then 'invalid_endpoint'
            when status_code_parsed is null or status_code_parsed < 100 or status_code_parsed > 599 then 'invalid_status'
        end as invalid_reason
    from typed

),

normalised as (

    select
        source_file,
        line_number,
        invalid_reason,
        invalid_reason is null as is_valid,
        case when event_id_type is not null and event_id_type <> 'NULL' then nullif(event_id_text, '') end as sender_event_id,
        case when invalid_reason is null then account_text end as account_id,
        case when invalid_reason is null then coalesce(nullif(meter_text, ''), 'api_calls') end as meter,
        case when invalid_reason is null then cast(units_wide as {{ usage_billing.type_quantity() }}) end as units,
        case when invalid_reason is null then event_at end as event_at,
        case when invalid_reason is null then {{ usage_billing.endpoint_without_query('endpoint_text') }} end as endpoint,
        case when invalid_reason is null then status_code_parsed end as status_code,
        properties,
        metadata,
        case when invalid_reason is not null then raw end as raw
    from validated

),

all_lines as (

    select * from normalised
    {%- if fast_path %}
    union all
    select * from plain_values
    {%- endif %}

),

identified as (

    select
        all_lines.*,
        -- E2 conflicts compare these normalised fields (through a hash of them).
        {{ usage_billing.row_hash(['account_id', 'meter', 'units', 'event_at', 'endpoint', 'status_code']) }} as content_hash
    from all_lines

),

final as (

    select
        source_file,
        line_number,
        case
            when not is_valid then null
            when sender_event_id is not null then sender_event_id
            -- An id-less event takes its id from its normalised fields plus properties/metadata,
            -- so identical id-less events count once.
            else 'derived:' || {{ dbt.hash(dbt.concat([
                "coalesce(account_id, '')", "'|'", "coalesce(meter, '')", "'|'",
                "coalesce(" ~ usage_billing.plain_decimal_text('units') ~ ", '')", "'|'",
                "coalesce(cast(event_at as " ~ dbt.type_string() ~ "), '')", "'|'",
                "coalesce(endpoint, '')", "'|'", "coalesce(cast(status_code as " ~ dbt.type_string() ~ "), '')", "'|'",
                "coalesce(properties, '')", "'|'", "coalesce(metadata, '')"
            ])) }}
        end as event_id,
        is_valid,
        invalid_reason,
        account_id,
        meter,
        units,
        event_at,
        endpoint,
        status_code,
        properties,
        metadata,
        content_hash,
        raw,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }}) as loaded_at
    from identified

)

select * from final
