"""The dbt project and the warehouse file: where they are (`project.py`), dbt's partial-parse states, the
catalog's fingerprint, the disk checks and undo, and the lock that keeps one writer at a time."""
