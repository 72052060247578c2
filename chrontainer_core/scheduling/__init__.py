"""Scheduling: cron expressions and time zones (``cron``); the scheduler joins later."""
