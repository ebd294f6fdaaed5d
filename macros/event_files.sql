{#- Raw event files (CONTRACT.md §1). Files are listed at compile time and reach SQL only as
    quoted literals (§4a), so a quote or semicolon in a path can neither break nor extend a query. -#}

{% macro sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro event_file_format(path) -%}
    {%- set p = path | lower -%}
    {%- if p.endswith('.parquet') -%}parquet
    {%- elif p.endswith('.ndjson') or p.endswith('.jsonl') or p.endswith('.ndjson.gz') or p.endswith('.jsonl.gz') -%}ndjson
    {%- else -%}{%- endif -%}
{%- endmacro %}

{#- Every file the events location matches, event files and others (orchestration/events/intake.py
    says which is which), in path order. Names are taken literally: `star*.ndjson` is one file. -#}
{% macro list_event_files(glob) %}
    {#- Refused before any query: a query's text goes to dbt's log. -#}
    {%- if modules.re.match('^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*@', glob) -%}
        {{ exceptions.raise_compiler_error('USAGE_BILLING_EVENTS=' ~ modules.re.sub('://[^/@]*@', '://***@', glob)
            ~ ': credentials in the location are refused; the storage SDK reads them from its environment '
            ~ '(docs/object_storage.md)') }}
    {%- endif -%}
    {{ return(adapter.dispatch('list_event_files', 'usage_billing')(glob)) }}
{% endmacro %}

{#- The URL scheme of an object-storage location (s3, gs, az…), else '' (local path, file://). -#}
{% macro object_scheme(glob) -%}
    {%- set scheme = modules.re.match('^([A-Za-z][A-Za-z0-9+.-]*)://', glob) -%}
    {{- scheme.group(1) | lower if scheme and scheme.group(1) | lower != 'file' else '' -}}
{%- endmacro %}

{#- (size, version) of each listed object now, as {path: [size, version]} (DuckDB: the listing's ETag or
    generation, orchestration/events/intake.py). Compared with the version recorded when the object was
    loaded, it tells an object overwritten since. -#}
{% macro object_versions(paths) %}
    {% if not execute or paths | length == 0 %}{{ return({}) }}{% endif %}
    {% set quoted = [] %}
    {% for p in paths %}{% do quoted.append(usage_billing.sql_string(p)) %}{% endfor %}
    {% set listed = "cast([" ~ quoted | join(', ') ~ "] as varchar[])" %}
    {% set result = run_query(
        "select source_file, listed_object.size_bytes, listed_object.version from ("
        ~ " select unnest(" ~ listed ~ ") as source_file,"
        ~ " unnest(usage_billing_file_versions(" ~ listed ~ ")) as listed_object) as listed_objects") %}
    {% set versions = {} %}
    {% for row in result.rows %}{% do versions.update({row[0]: [row[1], row[2]]}) %}{% endfor %}
    {{ return(versions) }}
{% endmacro %}

{% macro duckdb__list_event_files(glob) %}
    {% if not execute %}{{ return([]) }}{% endif %}
    {% set result = run_query("select unnest(usage_billing_list_files(" ~ usage_billing.sql_string(glob) ~ ")) as file order by file") %}
    {{ return(result.columns[0].values() | list) }}
{% endmacro %}

{#- A location the build cannot read is an error, and so is one that has never matched a file: a
    mistyped folder must not bill nobody and exit 0. Once files have been loaded, "no new file" is a
    normal run. -#}
{% macro check_events_location(glob, files, has_history) %}
    {%- if files | length == 0 and not has_history -%}
        {{ exceptions.raise_compiler_error('USAGE_BILLING_EVENTS=' ~ glob ~ ' matches no file, and no event '
            ~ 'file was ever loaded: check the path (a folder needs a glob such as /data/events/**/*)') }}
    {%- endif -%}
{% endmacro %}

{#- The same run's time as a timestamp literal: loaded_at and checked_at of one run are equal. -#}
{% macro run_started_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- Checks of the candidate files ([path, known_size, known_checksum] each; the known values are an
    earlier rejection's, else none; a mapped file (macros/event_sources.sql) adds the file to read and its
    format: [name, known_size, known_checksum, file, format]), with the columns of
    stg_raw_events__event_files except checked_at.
    DuckDB: orchestration/events/intake.py through the functions of orchestration/events/duckdb_plugin.py.
    Other engines read every event file as it is and report the rest as unsupported. -#}
{% macro inspect_event_files(candidates) %}
    {{ return(adapter.dispatch('inspect_event_files', 'usage_billing')(candidates)) }}
{% endmacro %}

{% macro default__inspect_event_files(candidates) %}
    select
        cast(null as {{ dbt.type_string() }}) as source_file,
        cast(null as {{ dbt.type_string() }}) as status,
        cast(null as {{ dbt.type_string() }}) as reason,
        cast(null as {{ dbt.type_string() }}) as detail,
        cast(null as {{ dbt.type_bigint() }}) as size_bytes,
        cast(null as {{ dbt.type_string() }}) as checksum,
        cast(null as {{ dbt.type_string() }}) as sidecar
    where 1 = 0
    {%- for c in candidates %}
    union all
    select
        {{ usage_billing.sql_string(c[0]) }},
        {%- if c | length > 3 or usage_billing.event_file_format(c[0]) | trim != '' %}
        'ok', cast(null as {{ dbt.type_string() }}), cast(null as {{ dbt.type_string() }}),
        {%- else %}
        'unsupported', 'unsupported_file_type', 'not .ndjson, .jsonl (optionally .gz) or .parquet',
        {%- endif %}
        cast(null as {{ dbt.type_bigint() }}), cast(null as {{ dbt.type_string() }}), cast(null as {{ dbt.type_string() }})
    {%- endfor %}
{% endmacro %}

{% macro duckdb__inspect_event_files(candidates) %}
    {%- if candidates | length == 0 %}
    {{ usage_billing.default__inspect_event_files([]) }}
    {%- else %}
    {%- set paths, sizes, checksums, reads, formats = [], [], [], [], [] %}
    {%- for c in candidates %}
        {%- do paths.append(usage_billing.sql_string(c[0])) %}
        {%- do sizes.append(c[1] if c[1] is not none else 'null') %}
        {%- do checksums.append(usage_billing.sql_string(c[2]) if c[2] is not none else 'null') %}
        {%- do reads.append(usage_billing.sql_string(c[3]) if c | length > 3 else 'null') %}
        {%- do formats.append(usage_billing.sql_string(c[4]) if c | length > 3 else 'null') %}
    {%- endfor %}
    select
        inspection.source_file,
        inspection.status,
        inspection.reason,
        inspection.detail,
        inspection.size_bytes,
        inspection.checksum,
        inspection.sidecar
    from (
        select unnest(usage_billing_inspect_files(
            cast([{{ paths | join(', ') }}] as varchar[]),
            cast([{{ sizes | join(', ') }}] as bigint[]),
            cast([{{ checksums | join(', ') }}] as varchar[]),
            cast([{{ reads | join(', ') }}] as varchar[]),
            cast([{{ formats | join(', ') }}] as varchar[])
        )) as inspection
    ) as inspected
    {%- endif %}
{% endmacro %}

{#- The files a run loads: checked in this run (relation: stg_raw_events__event_files) and readable,
    and not loaded before (loaded_relation). A list of [path, sidecar] (sidecar: none, or the Parquet
    side file to read instead of the file). -#}
{% macro files_to_load(checks_relation, loaded_relation=none) %}
    {#- Compiling without a build (sqlfluff, dbt compile) may find no checks table yet: no files. -#}
    {% if not execute or load_relation(checks_relation) is none %}{{ return([]) }}{% endif %}
    {% set result = run_query(
        "select source_file, sidecar from " ~ checks_relation
        ~ " where status in ('ok', 'lines') and checked_at = " ~ usage_billing.run_started_timestamp()
        ~ (" and source_file not in (select distinct source_file from " ~ loaded_relation ~ ")" if loaded_relation is not none else "")
        ~ " order by source_file") %}
    {% set files = [] %}
    {% for row in result.rows %}{% do files.append([row[0], row[1]]) %}{% endfor %}
    {{ return(files) }}
{% endmacro %}

{#- A path as a DuckDB file argument that names that file only: DuckDB expands glob characters in
    file arguments, so *, ? and [ each go in a character class. -#}
{% macro duckdb_file(path) -%}
    {{ usage_billing.sql_string(modules.re.sub('([*?\\[])', '[\\1]', path)) }}
{%- endmacro %}

{#- One row per line of each file: source_file, line_number (1-based, physical), raw (null for a
    blank line), read_error (why the line could not be read as text, else null). Parquet rows become their
    JSON object text so that one validation path serves both. `sidecars` maps a file to the Parquet side
    file the intake read it into line by line (orchestration/events/intake.py), read instead of the file. -#}
{% macro read_event_lines(files, sidecars={}) %}
    {{ return(adapter.dispatch('read_event_lines', 'usage_billing')(files, sidecars)) }}
{% endmacro %}

{#- What read_event_lines gives for no file at all, on any engine: its columns, typed, and no row. -#}
{% macro no_event_lines() -%}
    select
        cast(null as {{ dbt.type_string() }}) as source_file,
        cast(null as {{ dbt.type_bigint() }}) as line_number,
        cast(null as {{ dbt.type_string() }}) as raw,
        cast(null as {{ dbt.type_string() }}) as read_error
    where 1 = 0
{%- endmacro %}

{% macro duckdb__read_event_lines(files, sidecars={}) %}
    {%- if files | length == 0 %}
    {{ usage_billing.no_event_lines() }}
    {%- endif %}
    {%- for f in files %}
    {% if not loop.first %} union all {% endif %}
        {%- if sidecars.get(f) %}
    select
        {{ usage_billing.sql_string(f) }} as source_file,
        line_number,
        cast(raw as varchar) as raw,
        read_error
    from read_parquet({{ usage_billing.duckdb_file(sidecars[f]) }})
        {%- elif usage_billing.event_file_format(f) | trim == 'parquet' %}
    select
        {{ usage_billing.sql_string(f) }} as source_file,
        cast(file_row_number + 1 as bigint) as line_number,
        {{ usage_billing.parquet_row_json() }} as raw,
        cast(null as varchar) as read_error
    from {{ usage_billing.parquet_event_columns(f) }}
        {%- else %}
    {#- A one-column CSV read with the ASCII record separator as delimiter keeps each line's exact
        text; ordinality gives its physical line number (a blank line arrives as null). -#}
    select
        {{ usage_billing.sql_string(f) }} as source_file,
        cast(ordinality as bigint) as line_number,
        raw,
        cast(null as varchar) as read_error
    from read_csv(
        {{ usage_billing.duckdb_file(f) }},
        columns = {'raw': 'VARCHAR'},
        header = false,
        delim = '\x1e',
        quote = '',
        escape = '',
        auto_detect = false,
        compression = 'auto'
    ) with ordinality
        {%- endif %}
    {%- endfor %}
{% endmacro %}

{#- A Parquet row as the JSON object text the line path reads (and a quarantined row keeps): the
    columns of parquet_event_columns, in this order. -#}
{% macro parquet_row_json() -%}
    cast(to_json(
        struct_pack(
            event_id := event_id, account_id := account_id, meter := meter, units := units,
            "timestamp" := "timestamp", endpoint := endpoint, status_code := status_code,
            properties := properties, metadata := metadata
        )
    ) as varchar)
{%- endmacro %}

{#- The top-level columns of a Parquet file and their DuckDB types: {name: type}. -#}
{% macro parquet_column_types(f) %}
    {% if not execute %}{{ return({}) }}{% endif %}
    {% set described = run_query(
        "select column_name, column_type from (describe select * from read_parquet("
        ~ usage_billing.duckdb_file(f) ~ "))") %}
    {% set types = {} %}
    {% for row in described.rows %}{% do types.update({row[0]: row[1]}) %}{% endfor %}
    {{ return(types) }}
{% endmacro %}

{#- A Parquet file may lack optional columns: select the ones it has, null for the rest. -#}
{% macro parquet_event_columns(f) %}
    {%- set have = usage_billing.parquet_column_types(f).keys() | list -%}
    (
        select
            file_row_number,
            {%- if 'event_id' in have %} event_id{% else %} cast(null as varchar) as event_id{% endif %},
            coalesce(
                {%- for c in ['account_id', 'customer_id', 'user_id'] if c in have %}cast({{ c }} as varchar), {% endfor -%}
                cast(null as varchar)
            ) as account_id,
            {%- if 'meter' in have %} meter{% elif 'event_name' in have %} event_name as meter{% else %} cast(null as varchar) as meter{% endif %},
            {%- if 'units' in have %} cast(units as varchar) as units{% elif 'quantity' in have %} cast(quantity as varchar) as units{% else %} cast(null as varchar) as units{% endif %},
            {%- if 'timestamp' in have %} cast("timestamp" as varchar) as "timestamp"{% else %} cast(null as varchar) as "timestamp"{% endif %},
            {%- if 'endpoint' in have %} endpoint{% else %} cast(null as varchar) as endpoint{% endif %},
            {%- if 'status_code' in have %} status_code{% else %} cast(null as integer) as status_code{% endif %},
            {%- if 'properties' in have %} try_cast(properties as json) as properties{% else %} cast(null as json) as properties{% endif %},
            {%- if 'metadata' in have %} try_cast(metadata as json) as metadata{% else %} cast(null as json) as metadata{% endif %}
        from read_parquet({{ usage_billing.duckdb_file(f) }}, file_row_number = true)
    )
{% endmacro %}

{#- Which of the files are read as typed rows (read_typed_event_values) instead of JSON text lines.
    DuckDB: Parquet files whose event_id, meter (or event_name), endpoint and status_code columns, where
    present, are strings or integers; their JSON types are then known from the column types. Any other
    Parquet file goes through the line path, which gives the same result more slowly. Other engines: none.
    The var parquet_as_lines (default false) sends every file through the line path (tests compare both). -#}
{% macro typed_event_files(files) %}
    {% if var('parquet_as_lines', false) %}{{ return([]) }}{% endif %}
    {{ return(adapter.dispatch('typed_event_files', 'usage_billing')(files)) }}
{% endmacro %}

{% macro default__typed_event_files(files) %}
    {{ return([]) }}
{% endmacro %}

{% macro duckdb__typed_event_files(files) %}
    {% set typed = [] %}
    {% for f in files if usage_billing.event_file_format(f) | trim == 'parquet' %}
        {% set types = usage_billing.parquet_column_types(f) %}
        {% set plain = [] %}
        {% for column in ['event_id', 'meter', 'event_name', 'endpoint', 'status_code'] if column in types %}
            {% if usage_billing.duckdb__json_type_of_column(types[column]) == '' %}{% do plain.append(false) %}{% endif %}
        {% endfor %}
        {% if plain | length == 0 %}{% do typed.append(f) %}{% endif %}
    {% endfor %}
    {{ return(typed) }}
{% endmacro %}

{#- The JSON type to_json gives a value of a DuckDB column type, for the plain types; '' for others. -#}
{% macro duckdb__json_type_of_column(column_type) %}
    {%- set t = column_type | upper -%}
    {%- if t == 'VARCHAR' -%}{{ return('VARCHAR') }}
    {%- elif t in ['TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT'] -%}
        {{ return('NUMBER') }}
    {%- else -%}{{ return('') }}{%- endif -%}
{% endmacro %}

{#- Typed rows with the columns of the staging model's line_values: source_file, line_number, raw,
    doc_type, properties, metadata, then <key>_type and <key>_text for each of `keys`. -#}
{% macro read_typed_event_values(files, keys) %}
    {{ return(adapter.dispatch('read_typed_event_values', 'usage_billing')(files, keys)) }}
{% endmacro %}

{% macro default__read_typed_event_values(files, keys) %}
    select
        cast(null as {{ dbt.type_string() }}) as source_file,
        cast(null as {{ dbt.type_bigint() }}) as line_number,
        cast(null as {{ dbt.type_string() }}) as raw,
        cast(null as {{ dbt.type_string() }}) as read_error,
        cast(null as {{ dbt.type_string() }}) as doc_type,
        cast(null as {{ dbt.type_string() }}) as properties,
        cast(null as {{ dbt.type_string() }}) as metadata,
        {%- for key in keys %}
        cast(null as {{ dbt.type_string() }}) as {{ key }}_type,
        cast(null as {{ dbt.type_string() }}) as {{ key }}_text{{ ',' if not loop.last }}
        {%- endfor %}
    where 1 = 0
{% endmacro %}

{#- The line path's types and texts, from the columns: a string column's text is the string, an integer's
    its digits; account, units and timestamp are strings (parquet_event_columns); the merged aliases
    (customer_id, user_id, event_name, quantity) are absent, as in the row's JSON text. Metadata is parsed
    as on the line path, from the same normalised text. -#}
{% macro duckdb__read_typed_event_values(files, keys) %}
    {%- if files | length == 0 %}
    {{ usage_billing.default__read_typed_event_values(files, keys) }}
    {%- endif %}
    {%- for f in files %}
    {% if not loop.first %} union all {% endif %}
    {%- set types = usage_billing.parquet_column_types(f) %}
    {%- set metadata_keys = [] %}
    {%- for key in keys if key.startswith('metadata_') %}{% do metadata_keys.append(key[9:]) %}{% endfor %}
    {%- set meter_column = 'meter' if 'meter' in types else ('event_name' if 'event_name' in types else none) %}
    {%- set column_types = {
        'event_id': usage_billing.duckdb__json_type_of_column(types['event_id']) if 'event_id' in types else 'VARCHAR',
        'account_id': 'VARCHAR',
        'meter': usage_billing.duckdb__json_type_of_column(types[meter_column]) if meter_column else 'VARCHAR',
        'units': 'VARCHAR',
        'timestamp': 'VARCHAR',
        'endpoint': usage_billing.duckdb__json_type_of_column(types['endpoint']) if 'endpoint' in types else 'VARCHAR',
        'status_code': usage_billing.duckdb__json_type_of_column(types['status_code']) if 'status_code' in types else 'NUMBER',
    } %}
    select
        source_file,
        line_number,
        raw,
        cast(null as varchar) as read_error,
        'OBJECT' as doc_type,
        properties,
        metadata,
        {%- for key in keys %}
        {%- if key in column_types %}
        case when {{ adapter.quote(key) }} is not null then '{{ column_types[key] }}' end as {{ key }}_type,
        cast({{ adapter.quote(key) }} as varchar) as {{ key }}_text{{ ',' if not loop.last }}
        {%- elif key.startswith('metadata_') %}
        {%- set item = usage_billing.json_fields_item('metadata_fields', metadata_keys.index(key[9:]) + 1) %}
        {{ usage_billing.json_type_of(item) }} as {{ key }}_type,
        {{ usage_billing.json_text(item) }} as {{ key }}_text{{ ',' if not loop.last }}
        {%- else %}
        cast(null as varchar) as {{ key }}_type,
        cast(null as varchar) as {{ key }}_text{{ ',' if not loop.last }}
        {%- endif %}
        {%- endfor %}
    from (
        select
            typed_rows.*,
            {{ usage_billing.json_extract_fields('metadata', metadata_keys) }} as metadata_fields
        from (
            select
                {{ usage_billing.sql_string(f) }} as source_file,
                cast(file_row_number + 1 as bigint) as line_number,
                {{ usage_billing.parquet_row_json() }} as raw,
                event_id, account_id, meter, units, "timestamp", endpoint, status_code,
                nullif(cast(json(properties) as varchar), 'null') as properties,
                nullif(cast(json(metadata) as varchar), 'null') as metadata
            from {{ usage_billing.parquet_event_columns(f) }}
        ) as typed_rows
    ) as typed_fields
    {%- endfor %}
{% endmacro %}

{#- Spark: the directory before the first wildcard is listed recursively (binaryFile reads no content
    when only the path is selected) and the glob is applied here with DuckDB's meaning: * and ? stay
    within one directory, ** spans any number of them. Paths come back as the glob spells them (relative
    stays relative) so that source_file is the same on both engines. The directory must exist. -#}
{% macro spark__list_event_files(glob) %}
    {% if not execute %}{{ return([]) }}{% endif %}
    {%- if usage_billing.object_scheme(glob) != '' -%}
        {{ exceptions.raise_compiler_error('USAGE_BILLING_EVENTS=' ~ glob ~ ': object storage on the Spark target '
            ~ 'needs the Hadoop s3a/gcs/abfs connector jars, which this project does not ship; build on DuckDB, '
            ~ 'or see docs/object_storage.md ("Spark")') }}
    {%- endif -%}
    {%- set re = modules.re -%}
    {%- set wildcard = re.search('[*?\\[{]', glob) -%}
    {%- set prefix = glob[:wildcard.start()] if wildcard else glob -%}
    {%- set base = (prefix[:prefix.rfind('/') + 1] if '/' in prefix else '.') if wildcard else glob -%}
    {%- set pattern = re.escape(glob)
        | replace('\\*\\*/', '(?:.*/)?') | replace('\\*\\*', '.*') | replace('\\*', '[^/]*') | replace('\\?', '[^/]') -%}
    {%- set anchored = '^(' ~ pattern ~ ')$' if glob.startswith('/') else '(?:^|/)(' ~ pattern ~ ')$' -%}
    {%- call statement('event_file_listing') -%}
        create or replace temporary view usage_billing_event_file_listing
        using binaryFile
        options (path {{ usage_billing.sql_string(base) }}, recursiveFileLookup 'true')
    {%- endcall -%}
    {% set result = run_query("select path from usage_billing_event_file_listing") %}
    {% set files = [] %}
    {% for row in result.rows %}
        {%- set local = re.sub('^file:(//)?', '', row[0]) -%}
        {%- set found = re.search(anchored, local) -%}
        {% if found and usage_billing.event_file_format(found.group(1)) | trim != '' %}
            {% do files.append(found.group(1)) %}
        {% endif %}
    {% endfor %}
    {{ return(files | sort) }}
{% endmacro %}

{#- A file path as a Spark file-source identifier: text.`path`, parquet.`path`. -#}
{% macro spark_file_source(format, f) -%}
    {{ format }}.`{{ f | replace('`', '``') }}`
{%- endmacro %}

{#- Spark: the text source gives one row per line with its exact text (an empty line as ''); the physical
    line number is the row's position in the file: file splits in offset order, rows in scan order. -#}
{% macro spark__read_event_lines(files, sidecars={}) %}
    {%- if files | length == 0 %}
    {{ usage_billing.no_event_lines() }}
    {%- endif %}
    {%- for f in files %}
    {% if not loop.first %} union all {% endif %}
    select
        source_file,
        cast(row_number() over (order by block_start, row_position) as bigint) as line_number,
        raw,
        cast(null as string) as read_error
    from (
        select
            {{ usage_billing.sql_string(f) }} as source_file,
            input_file_block_start() as block_start,
            monotonically_increasing_id() as row_position,
        {%- if usage_billing.event_file_format(f) | trim == 'parquet' %}
            {{ usage_billing.spark_parquet_event_json(f) }} as raw
        from {{ usage_billing.spark_file_source('parquet', f) }}
        {%- else %}
            value as raw
        from {{ usage_billing.spark_file_source('text', f) }}
        {%- endif %}
    ) as file_lines
    {%- endfor %}
{% endmacro %}

{#- A string as a JSON string literal, or null → null (JSON text). -#}
{% macro spark_json_string(expression) -%}
    regexp_extract(to_json(array(cast({{ expression }} as string))), r'^\[(.*)\]$', 1)
{%- endmacro %}

{#- Spark: a Parquet row as the JSON object DuckDB's to_json(struct_pack(...)) writes for it (same keys,
    same order, absent columns as null), so that one validation path serves both formats. -#}
{% macro spark_parquet_event_json(f) -%}
    {%- set described = run_query("select * from " ~ usage_billing.spark_file_source('parquet', f) ~ " limit 0") if execute else none -%}
    {%- set have = described.column_names | list if described is not none else [] -%}
    {%- set accounts = [] -%}
    {%- for c in ['account_id', 'customer_id', 'user_id'] if c in have %}{% do accounts.append('cast(`' ~ c ~ '` as string)') %}{% endfor -%}
    {%- set values = {
        'event_id': usage_billing.spark_json_string('`event_id`') if 'event_id' in have else 'null',
        'account_id': usage_billing.spark_json_string('coalesce(' ~ accounts | join(', ') ~ ')') if accounts else 'null',
        'meter': usage_billing.spark_json_string('`meter`') if 'meter' in have
            else (usage_billing.spark_json_string('`event_name`') if 'event_name' in have else 'null'),
        'units': usage_billing.spark_json_string('`units`') if 'units' in have
            else (usage_billing.spark_json_string('`quantity`') if 'quantity' in have else 'null'),
        'timestamp': usage_billing.spark_json_string('`timestamp`') if 'timestamp' in have else 'null',
        'endpoint': usage_billing.spark_json_string('`endpoint`') if 'endpoint' in have else 'null',
        'status_code': 'cast(`status_code` as string)' if 'status_code' in have else 'null',
        'properties': 'case when try_parse_json(`properties`) is not null then `properties` end' if 'properties' in have else 'null',
        'metadata': 'case when try_parse_json(`metadata`) is not null then `metadata` end' if 'metadata' in have else 'null',
    } -%}
    concat('{'
        {%- for key in ['event_id', 'account_id', 'meter', 'units', 'timestamp', 'endpoint', 'status_code', 'properties', 'metadata'] %}
        , '{{ ',' if not loop.first }}"{{ key }}":', coalesce({{ values[key] }}, 'null')
        {%- endfor %}
        , '}')
{%- endmacro %}
