"""`atest gen-tests`."""

from __future__ import annotations

import typer

from atest.commands._common import not_implemented


def register(app: typer.Typer) -> None:
    @app.command("gen-tests", help="(not implemented yet)")
    def _cmd() -> None:
        not_implemented("gen-tests", "pending")
