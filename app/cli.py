"""Registers the `flask` sub-commands, one module per group under app/commands/."""

from __future__ import annotations

import importlib
import pkgutil

from flask import Flask

import app.commands as commands_package


def register(app: Flask) -> None:
    for module_info in pkgutil.iter_modules(commands_package.__path__):
        module = importlib.import_module(f"{commands_package.__name__}.{module_info.name}")
        group = getattr(module, "group", None)
        if group is not None:
            app.cli.add_command(group)
