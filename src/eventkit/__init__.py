"""eventkit: the lifecycle of civil-society network meetings, from invitation to recap, as Prefect flows."""

from eventkit.formats import Format, discover
from eventkit.mail import Recipient, compose
from eventkit.render import Renderer
from eventkit.settings import Settings
from eventkit.spec import EventSpec, load_spec, parse_spec
from eventkit.store import Store
from eventkit.validation import Problem, ValidationFailed

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
