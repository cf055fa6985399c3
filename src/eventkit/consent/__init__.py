"""Consent records: what a person agreed to, and when."""
