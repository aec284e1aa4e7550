"""The pure core: every decision dss makes, as functions of values and an injected
clock. Snapshot names, durations, the dyadic intervals, the run loop's schedule,
retention records, the removal gate, the option table and its validation, the
transport and event records. Nothing here reads a file, starts a process or imports
a plugin (an import-linter contract in pyproject.toml checks it)."""
