"""`atest schema COMMAND`: the JSON Schema of what `atest COMMAND --json` prints."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from atest.commands._common import emit_json, handle_errors
from atest.commands._options import JsonOpt


def register(app: typer.Typer) -> None:
    @app.command(
        "schema",
        help="Print the JSON Schema of a command's --json summary (error: the failure object); "
        "without COMMAND, list the commands; --markdown: the field reference (docs/results.md).",
    )
    @handle_errors
    def _cmd(
        command: Annotated[str | None, typer.Argument(help="A command name, e.g. bon, or error.")] = None,
        markdown: Annotated[
            bool,
            typer.Option("--markdown", help="Print every command's fields as Markdown (docs/results.md)."),
        ] = False,
        json_out: JsonOpt = False,
    ) -> None:
        from atest.core.errors import InputError
        from atest.core.results import RESULTS, json_schema
        from atest.core.results import markdown as results_markdown

        if markdown:
            if command is not None or json_out:
                raise InputError("--markdown prints every command's fields", "drop COMMAND and --json")
            sys.stdout.write(results_markdown())
            return
        if command is None:
            if json_out:
                emit_json({"commands": list(RESULTS)})
            else:
                typer.echo("\n".join(RESULTS))
            return
        schema = json_schema(command)
        if json_out:
            emit_json(schema)
        else:
            typer.echo(json.dumps(schema, indent=2, ensure_ascii=False))
