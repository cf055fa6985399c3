"""Reminders before the event."""
