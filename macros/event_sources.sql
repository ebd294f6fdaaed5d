{#- Gateway access logs as event sources (catalog file event_sources.csv, docs/gateway_logs.md). Each
    source names its files (a glob), their format, the meter its lines bill, and for each contract field
    the path it is read from and a conversion. A mapped file is staged under the name `<file>#<source_id>`
    (so one log can feed two sources, e.g. calls and bytes), and each of its lines becomes the contract's
    JSON event, which the staging model validates like any other line. Catalog values reach SQL only as
    quoted literals (CONTRACT.md §4a). -#}

{#- The conversions each field accepts ('' = the value as it is). -#}
{% macro event_source_conversions() %}
    {{ return({
        'format': ['ndjson'],
        'account_conversion': ['', 'api_key'],
        'timestamp_conversion': ['iso8601', 'epoch_seconds', 'epoch_milliseconds', 'clf'],
        'units_conversion': ['', 'bytes_to_gb'],
    }) }}
{% endmacro %}

{#- The rows of event_sources.csv as dicts, checked: a source that cannot be read as written fails the
    build with a message naming its row. -#}
{% macro event_sources() %}
    {% if not execute %}{{ return([]) }}{% endif %}
    {% set relation = load_relation(ref('event_sources')) %}
    {% if relation is none %}{{ return([]) }}{% endif %}
    {% set result = run_query('select * from ' ~ relation ~ ' order by source_id') %}
    {% if result.rows | length > 0 and target.type != 'duckdb' %}
        {{ exceptions.raise_compiler_error('event_sources.csv: gateway log sources are read on DuckDB only, not on '
            ~ target.type ~ ' (docs/gateway_logs.md)') }}
    {% endif %}
    {% set sources = [] %}
    {% set conversions = usage_billing.event_source_conversions() %}
    {% for row in result.rows %}
        {% set source = {} %}
        {% for name in result.column_names %}
            {% do source.update({name: (row[name] | string | trim) if row[name] is not none else ''}) %}
        {% endfor %}
        {% set where = 'event_sources.csv, source_id ' ~ (source.source_id or '(blank)') ~ ': ' %}
        {% if not modules.re.match('^[a-z0-9_]+$', source.source_id) %}
            {{ exceptions.raise_compiler_error(where ~ 'source_id must be lower-case letters, digits and _') }}
        {% endif %}
        {% for required in ['glob', 'format', 'meter', 'event_id_path', 'account_path', 'timestamp_path', 'timestamp_conversion'] %}
            {% if source[required] == '' %}
                {{ exceptions.raise_compiler_error(where ~ required ~ ' is blank') }}
            {% endif %}
        {% endfor %}
        {% for column, allowed in conversions.items() %}
            {% if source[column] not in allowed %}
                {{ exceptions.raise_compiler_error(where ~ column ~ ' ' ~ source[column] ~ ' is not one of '
                    ~ (allowed | reject('equalto', '') | join(', ')) ~ (' (or blank)' if '' in allowed else '')) }}
            {% endif %}
        {% endfor %}
        {% if source.units_conversion != '' and source.units_path == '' %}
            {{ exceptions.raise_compiler_error(where ~ 'units_conversion needs a units_path') }}
        {% endif %}
        {% if source.endpoint_templates != '' and source.endpoint_path == '' %}
            {{ exceptions.raise_compiler_error(where ~ 'endpoint_templates needs an endpoint_path') }}
        {% endif %}
        {% do sources.append(source) %}
    {% endfor %}
    {{ return(sources) }}
{% endmacro %}

{#- Every file of every source, as {staged name: [file, source]}, the name being `<file>#<source_id>`. -#}
{% macro event_source_files(sources) %}
    {% set files = {} %}
    {% for source in sources %}
        {% for f in usage_billing.list_event_files(source.glob) %}
            {% do files.update({f ~ '#' ~ source.source_id: [f, source]}) %}
        {% endfor %}
    {% endfor %}
    {{ return(files) }}
{% endmacro %}

{#- The staged names among `names` that are mapped files, as event_source_files gives them (from the
    names: `<file>#<source_id>`, no listing). -#}
{% macro mapped_event_files(names, sources) %}
    {% set files = {} %}
    {% for name in names %}
        {% for source in sources if name.endswith('#' ~ source.source_id) %}
            {% do files.update({name: [name[:name | length - source.source_id | length - 1], source]}) %}
        {% endfor %}
    {% endfor %}
    {{ return(files) }}
{% endmacro %}

{#- A dotted path (request.headers.apikey) as a JSON Pointer literal ('/request/headers/apikey'). -#}
{% macro json_pointer(path) -%}
    {%- set parts = [] -%}
    {%- for part in path.split('.') %}{% do parts.append(part | replace('~', '~0') | replace('/', '~1')) %}{% endfor -%}
    {{ usage_billing.sql_string('/' ~ parts | join('/')) }}
{%- endmacro %}

{#- An endpoint template (/v1/items/{id}) as a whole-path regular expression: each {name} is one segment. -#}
{% macro endpoint_template_regex(template) -%}
    {%- set parts = [] -%}
    {%- for part in modules.re.split('\\{[^/{}]*\\}', template) %}{% do parts.append(modules.re.escape(part)) %}{% endfor -%}
    {{ parts | join('[^/]+') }}
{%- endmacro %}

{#- The lines of mapped files (`files`: staged names; `mapped`: event_source_files; `sidecars`: staged name
    to the intake's side file) with the columns of read_event_lines. -#}
{% macro read_mapped_event_lines(files, mapped, sidecars={}) %}
    {{ return(adapter.dispatch('read_mapped_event_lines', 'usage_billing')(files, mapped, sidecars)) }}
{% endmacro %}

{% macro default__read_mapped_event_lines(files, mapped, sidecars={}) %}
    {{ exceptions.raise_compiler_error('event_sources.csv: gateway log sources are read on DuckDB only') }}
{% endmacro %}

{#- Per line: a line that is not a JSON object passes as it is (staging quarantines it as not_json or
    not_object); an object becomes the contract's event, with read_error missing_field:<path> when a
    mapped path is absent or null, invalid_field:<path> when its value cannot be converted. Either way the
    staged text is the mapped event, never the gateway's line: an API key in the line is not kept. -#}
{% macro duckdb__read_mapped_event_lines(files, mapped, sidecars={}) %}
    {%- if files | length == 0 %}
    {{ usage_billing.read_event_lines([], {}) }}
    {%- endif %}
    {%- for name in files %}
    {%- set f, source = mapped[name][0], mapped[name][1] %}
    {%- set paths = {} %}
    {%- for field in ['event_id', 'account', 'timestamp', 'units', 'endpoint', 'status'] if source[field ~ '_path'] != '' %}
        {%- do paths.update({field: source[field ~ '_path']}) %}
    {%- endfor %}
    {% if not loop.first %} union all {% endif %}
    select
        source_file,
        line_number,
        case when is_object then cast({{ usage_billing.mapped_event_json(source) }} as varchar) else raw end as raw,
        coalesce(read_error, case when is_object then
            case
                {%- for field, path in paths.items() %}
                when {{ field }}_value is null then {{ usage_billing.sql_string('missing_field:' ~ path) }}
                {%- endfor %}
                when event_at is null then {{ usage_billing.sql_string('invalid_field:' ~ source.timestamp_path) }}
                {%- if source.units_conversion == 'bytes_to_gb' %}
                when not regexp_full_match(units_value, '[0-9]{1,24}') then {{ usage_billing.sql_string('invalid_field:' ~ source.units_path) }}
                {%- endif %}
            end
        end) as read_error
    from (
        select
            mapped_values.*,
            {{ usage_billing.event_source_timestamp('timestamp_value', source.timestamp_conversion) }} as event_at
        from (
            select
                {{ usage_billing.sql_string(name) }} as source_file,
                line_number,
                raw,
                read_error,
                is_object,
                {%- for field, path in paths.items() %}
                {%- if field in ['units', 'status'] and not (field == 'units' and source.units_conversion != '') %}
                {#- Kept as JSON: the contract's rules read its type ("200" and 200 are both a status). #}
                case when is_object then nullif(cast(json_extract(raw, {{ usage_billing.json_pointer(path) }}) as varchar), 'null') end
                {%- else %}
                {#- Gateways write "-" for a variable without a value. #}
                case when is_object then nullif(nullif(json_extract_string(raw, {{ usage_billing.json_pointer(path) }}), ''), '-') end
                {%- endif %} as {{ field }}_value{{ ',' if not loop.last }}
                {%- endfor %}
            from (
                select
                    file_lines.*,
                    coalesce(read_error is null and json_valid(raw) and json_type(raw) = 'OBJECT', false) as is_object
                from ({{ usage_billing.read_event_lines([f], {f: sidecars[name]} if sidecars.get(name) else {}) }}) as file_lines
            ) as file_objects
        ) as mapped_values
    ) as mapped_lines
    {%- endfor %}
{% endmacro %}

{#- A timestamp field's value as a UTC timestamp, null when it cannot be converted. -#}
{% macro event_source_timestamp(value, conversion) -%}
    {%- if conversion == 'iso8601' -%}
        {{ usage_billing.iso_timestamp_utc(value) }}
    {%- elif conversion == 'epoch_seconds' -%}
        make_timestamp(cast(try_cast({{ value }} as decimal(38, 6)) * 1000000 as bigint))
    {%- elif conversion == 'epoch_milliseconds' -%}
        make_timestamp(cast(try_cast({{ value }} as decimal(38, 3)) * 1000 as bigint))
    {%- elif conversion == 'clf' -%}
        {#- Common Log Format, as nginx's $time_local and API Gateway's $context.requestTime write it. -#}
        cast(timezone('UTC', try_strptime({{ value }}, '%d/%b/%Y:%H:%M:%S %z')) as timestamp)
    {%- endif -%}
{%- endmacro %}

{#- The contract's event (CONTRACT.md §1) for a mapped line. -#}
{% macro mapped_event_json(source) -%}
    json_object(
        'event_id', {{ usage_billing.sql_string(source.source_id ~ ':') }} || event_id_value,
        'account_id', {{ usage_billing.mapped_account(source) }},
        'meter', {{ usage_billing.sql_string(source.meter) }},
        {%- if source.units_path != '' %}
        'units', {{ usage_billing.mapped_units(source) }},
        {%- endif %}
        'timestamp', strftime(event_at, '%Y-%m-%dT%H:%M:%S.%fZ'),
        {%- if source.endpoint_path != '' %}
        'endpoint', {{ usage_billing.mapped_endpoint(source) }},
        {%- endif %}
        {%- if source.status_path != '' %}
        'status_code', cast(status_value as json),
        {%- endif %}
        'source', {{ usage_billing.sql_string(source.source_id) }}
    )
{%- endmacro %}

{#- The account: the value, or for api_key the account its SHA-256 is listed under in api_keys.csv (an
    unlisted key becomes the account `unknown_api_key:<first 16 hex digits of its hash>`, so its usage
    shows in unbilled_usage as an unknown account and the key itself is never stored). -#}
{% macro mapped_account(source) -%}
    {%- if source.account_conversion == 'api_key' -%}
        coalesce(
            (select min(api_keys.account_id) from {{ ref('api_keys') }} as api_keys
             where lower(api_keys.key_sha256) = sha256(account_value)),
            'unknown_api_key:' || left(sha256(account_value), 16)
        )
    {%- else -%}
        account_value
    {%- endif -%}
{%- endmacro %}

{#- Units: the value as it is (the contract's rules apply), or bytes as decimal gigabytes written exactly
    (10^9 bytes = 1 GB: 1234 bytes → "0.000001234"). -#}
{% macro mapped_units(source) -%}
    {%- if source.units_conversion == 'bytes_to_gb' -%}
        case when regexp_full_match(units_value, '[0-9]{1,24}') then
            to_json(
                cast(substring(lpad(units_value, 10, '0'), 1, length(lpad(units_value, 10, '0')) - 9) as varchar)
                || '.' || right(lpad(units_value, 10, '0'), 9)
            )
        end
    {%- else -%}
        cast(units_value as json)
    {%- endif -%}
{%- endmacro %}

{#- The endpoint: the path without its query string, replaced by the first template it matches. -#}
{% macro mapped_endpoint(source) -%}
    {%- set templates = source.endpoint_templates.split() -%}
    {%- if templates | length == 0 -%}
        endpoint_value
    {%- else -%}
        case
            {%- for template in templates %}
            when regexp_full_match({{ usage_billing.endpoint_without_query('endpoint_value') }},
                {{ usage_billing.sql_string(usage_billing.endpoint_template_regex(template)) }})
                then {{ usage_billing.sql_string(template) }}
            {%- endfor %}
            else endpoint_value
        end
    {%- endif -%}
{%- endmacro %}
