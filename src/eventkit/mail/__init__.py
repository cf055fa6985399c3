"""Email: MIME, iCalendar, composing, the outbox, the SMTP transport and delivery."""
