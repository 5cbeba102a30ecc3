"""Prometheus metrics at /metrics (docs/metrics.md).

Almost everything is read at scrape time from what every process shares, so two web processes
answer the same numbers and a restart loses nothing: runs, faults, hosts and the outbox from
the database (``database_collectors``, ``first_fault``), the agents' heartbeats and the
orchestrators' lease renewals from Redis (``agent_collectors``, ``lease_renewals``). Only the
event lag is this process's own (``event_lag``): it is measured where this process sends an
event down a websocket.
``scrape_access`` says who may scrape; ``exposition`` puts them together.
"""
