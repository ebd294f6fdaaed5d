"""The Dagster code location: the definitions (`definitions.py`, what `dagster dev` loads), the assets, the
asset checks, the jobs' partitions, schedules and sensor, the resources, and the instance the command line
runs in."""
