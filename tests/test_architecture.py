"""The dependency rule in the code itself: no eventkit import hides inside a function, and every feature that
registers itself with a lower layer (an email kind, a delivery sweep) is registered wherever emails are sent.

The layers and the features' order are import-linter contracts ([tool.importlinter] in pyproject.toml, run by
make lint); these tests cover what import-linter cannot see.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import eventkit
from eventkit.events import changes
from eventkit.invitations import invitations
from eventkit.mail import kinds
from eventkit.recap import thanks
from eventkit.series import emails as series_emails
from eventkit.sessions.emails import KIND
from tests.conftest import TEMPLATES

SRC = Path(eventkit.__file__).resolve().parent
ROOT = SRC.parents[1]

# Modules allowed, for a while, to import eventkit modules inside functions, each with who removes those imports.
# Never one of the library layers (core, model, db, runtime, mail, documents, the features).
NOT_YET: dict[str, str] = {}


def _imports_inside_functions(path: Path) -> list[str]:
    """`line: module` of every import of an eventkit module (or a relative one) inside a function."""
    found: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if in_function and isinstance(child, ast.Import):
                found.extend(f"{child.lineno}: {a.name}" for a in child.names if a.name.split(".")[0] == "eventkit")
            elif in_function and isinstance(child, ast.ImportFrom):
                if child.level or (child.module or "").split(".")[0] == "eventkit":
                    found.append(f"{child.lineno}: {'.' * child.level}{child.module or ''}")
            visit(child, inside)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def test_no_eventkit_module_is_imported_inside_a_function() -> None:
    """An import inside a function hides a dependency (often one that goes the wrong way, or a cycle)."""
    offenders = {}
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        found = _imports_inside_functions(path)
        if found and name not in NOT_YET:
            offenders[name] = found
    assert offenders == {}


def test_the_list_of_modules_not_done_yet_only_shrinks() -> None:
    library = [name for name in NOT_YET if not name.startswith(("cli/", "web/", "devtools/"))]
    assert library == [], "the library layers have no imports inside functions"
    done = [name for name in NOT_YET if not _imports_inside_functions(SRC / name)]
    assert done == [], "these have no imports inside functions any more: take them off NOT_YET"


def _registrations(*modules: str) -> dict[str, object]:
    """What the email kinds' registry and the delivery's sweeps hold in a new interpreter that imports `modules`."""
    code = "\n".join(
        [f"import {m}" for m in modules]
        + [
            "import json",
            "from eventkit.mail import delivery, kinds",
            "hooks = sorted(f'{h.__module__}.{h.__qualname__}' for h in delivery.sweep_hooks())",
            "print(json.dumps({'kinds': kinds.registered(), 'sweeps': hooks}))",
        ]
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p or "." for p in sys.path)}
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _every_module() -> list[str]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[0] == "db" and "migrations" in parts or parts[-1] == "__main__":
            continue  # Alembic's env runs migrations when imported; __main__ runs the CLI
        out.append(".".join(("eventkit",) + (parts[:-1] if parts[-1] == "__init__" else parts)))
    return out


def test_eventkit_features_imports_every_feature_that_registers_itself() -> None:
    """Whatever any module registers is registered once eventkit.features is imported (REGISTERING names them)."""
    assert _registrations("eventkit.features") == _registrations(*_every_module())


def _imported(path: Path) -> set[str]:
    """The modules `path` imports (a `from a import b` counts as a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


# what renders the emails waiting in the outbox (eventkit.mail.delivery)
DELIVERING = {"claim", "deliver_pending", "deliver_once", "child_deliver"}


def _delivers(path: Path) -> bool:
    """Whether the module calls the delivery (delivery.deliver_pending, or a name imported from it)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "delivery":
            if node.attr in DELIVERING:
                return True
        if isinstance(node, ast.ImportFrom) and node.module == "eventkit.mail.delivery":
            if DELIVERING & {a.name for a in node.names}:
                return True
    return False


def test_every_entry_point_that_delivers_imports_the_features() -> None:
    """A delivery in any process renders every kind: an entry point's module that delivers imports eventkit.features
    (a flow through the flows package; the web app's delivery process preloads it, and tests/web/test_api.py
    sends through that process)."""
    entry_points = [
        *SRC.glob("cli/*.py"),
        *SRC.glob("web/**/*.py"),
        *SRC.glob("devtools/*.py"),
        *ROOT.glob("flows/*.py"),
    ]
    delivering = [path for path in sorted(entry_points) if _delivers(path)]
    assert {"pump.py", "delivery.py"} <= {path.name for path in delivering}
    missing = [
        path.relative_to(ROOT).as_posix()
        for path in delivering
        if "eventkit.features" not in _imported(path.parent / "__init__.py" if path.parent.name == "flows" else path)
    ]
    assert missing == []


def test_every_email_template_is_rendered_at_delivery_or_by_its_feature() -> None:
    """Each email kind under templates/_base/email has a renderer registered for the delivery (it is stored
    unrendered), or is composed by its feature when the feature puts it into the outbox; never both."""
    templates = {p.name for p in (TEMPLATES / "_base" / "email").iterdir() if p.is_dir()}
    at_delivery = set(kinds.registered())
    composed = {
        invitations.KIND,
        thanks.THANKS_KIND,
        KIND,
        *changes.KINDS,
        *series_emails.KINDS,
    }
    assert at_delivery & composed == set()
    assert at_delivery | composed == templates
