"""Domain logic that is neither I/O nor UI: station state, energy KPIs, alarm rules, dispatch choice, SLA clocks.

Imports nothing of the project but plain data shapes from :mod:`datasources.bus.messages` / :mod:`datasources.sql.fleet_spec`
(no Redis, no SQL, no Dash), so it is testable in isolation.
"""
