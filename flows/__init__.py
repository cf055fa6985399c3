"""The Prefect flows: thin wrappers, one module per lifecycle step, around eventkit's functions."""

import eventkit.features  # noqa: F401 - every feature registers its email kinds before a flow delivers
