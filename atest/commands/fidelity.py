"""`atest fidelity`."""

from __future__ import annotations

import typer

from atest.commands._common import not_implemented


def register(app: typer.Typer) -> None:
    @app.command("fidelity", help="(not implemented yet)")
    def _cmd() -> None:
        not_implemented("fidelity", "pending")
