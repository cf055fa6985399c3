"""An event's slug: lower-case letters and digits in words joined by single hyphens, at most 100 characters."""

from __future__ import annotations

import re
from typing import TypeGuard

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_LENGTH = 100


def is_slug(value: object) -> TypeGuard[str]:
    """Whether `value` can be an event's slug (a text that cannot, a NUL byte say, is never looked up)."""
    return isinstance(value, str) and len(value) <= MAX_LENGTH and SLUG_RE.fullmatch(value) is not None
