"""Prometheus metrics at /metrics (docs/metrics.md).

Almost everything is read from the database at scrape time (``database_collectors``,
``first_fault``): runs, faults, hosts and the outbox are rows every process shares, so two web
processes answer the same numbers and a restart loses nothing. Only the event lag is this
process's own (``event_lag``): it is measured where this process sends an event down a
websocket.
``scrape_access`` says who may scrape; ``exposition`` puts them together.
"""
