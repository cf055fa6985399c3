"""Privacy: retention, purge, export and erasure of a person."""
