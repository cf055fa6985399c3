"""Imported when first used: the command modules of a group, and the functions whose modules import Prefect."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click


def load(target: str) -> Any:
    """The object a "package.module:name" names, importing its module."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


class LazyGroup(click.Group):
    """A group whose commands are imported when one of them runs (click's lazy-loading pattern).

    `lazy` maps a command's name to where it is ("package.module:name") and its summary, the first
    paragraph of its help: `--help` lists every command, and importing them all for that would bring in
    Prefect, WeasyPrint and the web app. A test keeps each summary equal to the command's own help.
    """

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            command = load(self.lazy[cmd_name][0])
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name][0]} is not a click command")
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed = {
            name: self.commands.get(name) or click.Command(name, help=self.lazy[name][1])
            for name in self.list_commands(ctx)
        }
        click.Group(self.name, commands=listed).format_commands(ctx, formatter)


class LazyFunction:
    """A function named "package.module:name", imported on its first call: a flow, or the demo, whose module
    imports Prefect. A command that may not run it then does not wait seconds for Prefect to load, and
    Prefect, which reads its settings once on import, sees those the command has set by then."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return load(self.target)(*args, **kwargs)
