"""Pure decisions over values, table-tested: no I/O, no clock, no processes.

Settings, classification and triage, metrics and anomalies, heartbeat limits, guards, budgets,
patch parsing and policy, prompts, redaction, and the one run-state reducer.
"""
