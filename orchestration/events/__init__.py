"""Raw usage events: the intake that checks each new file before staging reads it (``intake``, with its
dbt-duckdb plugin ``duckdb_plugin``), and synthetic event generation (``generator``). Import the module
you need: the dbt plugin must not pay for the generator's imports at every dbt start."""
