"""`eventkit demo`: the example events of examples/ run through their whole lifecycle on embedded defaults."""

from __future__ import annotations

import os
from pathlib import Path

import click

from eventkit.cli.lazy import LazyFunction
from eventkit.cli.messages import _, user_errors

run_demo = LazyFunction("eventkit.devtools.demo:run_demo")


@click.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-output"), show_default=True)
@user_errors
def demo(out: Path) -> None:
    """Run the example events of examples/ with embedded defaults and leave what they produced in OUT."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # before Prefect loads: it reads its settings once
    run_demo(out, echo=click.echo, translate=_)
