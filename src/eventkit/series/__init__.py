"""Recurring meetings: series, their members and their calendar."""
