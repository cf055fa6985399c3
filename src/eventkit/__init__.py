"""eventkit: the lifecycle of civil-society network meetings, from invitation to recap, as Prefect flows."""

from eventkit.core.render import Renderer
from eventkit.core.settings import Settings
from eventkit.core.validation import Problem, ValidationFailed
from eventkit.db.store import Store
from eventkit.mail.compose import Recipient, compose
from eventkit.model.formats import Format, discover
from eventkit.model.spec import EventSpec, load_spec, parse_spec

__version__ = "0.1.0"

__all__ = [
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
