"""The public surface is what eventkit.__all__ names, and nothing in it is missing."""

from __future__ import annotations

import importlib.metadata

import eventkit


def test_public_names() -> None:
    assert sorted(eventkit.__all__) == [
        "EventSpec",
        "Format",
        "Problem",
        "Recipient",
        "Renderer",
        "Settings",
        "Store",
        "ValidationFailed",
        "__version__",
        "compose",
        "discover",
        "load_spec",
        "parse_spec",
    ]
    for name in eventkit.__all__:
        assert getattr(eventkit, name) is not None


def test_version_matches_the_package() -> None:
    assert eventkit.__version__ == importlib.metadata.version("eventkit")
