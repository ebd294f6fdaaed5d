"""The reader tools: what the commands print or write from a built warehouse (invoice summary, statements,
explain, review, simulate, receivables, entitlements, the finance export) and the figures the assets attach
as metadata. They read the warehouse; only the export writes, and only files."""
