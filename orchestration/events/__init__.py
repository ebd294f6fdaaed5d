"""Raw usage events: the intake that checks each new file before staging reads it (``intake``, with its
dbt-duckdb plugin ``duckdb_plugin``). Synthetic event generation is its own package,
``orchestration.generator``. Import the module you need: the dbt plugin must not pay for other imports at
every dbt start."""
