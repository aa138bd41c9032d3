"""`atest sandbox serve`: the sandbox as an HTTP service (SandboxFusion's API and atest's batch)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated

import typer

from atest.commands._common import console, handle_errors, sandbox_settings
from atest.core.errors import InputError


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        name="sandbox",
        help="The sandbox as a service: `atest sandbox serve`.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    app.add_typer(group)

    @group.command(
        "serve",
        help="Serve the sandbox over HTTP: SandboxFusion's POST /run_code (python), atest's batch "
        "endpoint POST /atest/v1/run, GET /health, /ready, /atest/v1/info. Programs run on the "
        "executor the root options choose (atest --executor ray sandbox serve: a Ray cluster). "
        "A bearer token, when $ATEST_SANDBOX_TOKEN is set, is required on every POST.",
    )
    @handle_errors
    def _serve(
        host: Annotated[
            str, typer.Option("--host", help="Address to listen on (loopback by default).")
        ] = "127.0.0.1",
        port: Annotated[
            int, typer.Option("--port", min=0, max=65535, help="Port; 0 picks a free one.")
        ] = 8080,
        workers: Annotated[
            int | None, typer.Option("--workers", min=1, help="Sandbox workers (default: one per core).")
        ] = None,
        max_pending: Annotated[
            int, typer.Option("--max-pending", min=1, help="Requests in progress at once; more get 429.")
        ] = 64,
        max_body_mb: Annotated[
            float, typer.Option("--max-body-mb", min=0.001, help="Largest request body, in MB (413 above).")
        ] = 16.0,
        max_jobs: Annotated[int, typer.Option("--max-jobs", min=1, help="Jobs in one batch request.")] = 4096,
        max_seconds: Annotated[
            float,
            typer.Option(
                "--max-seconds", min=0.01, help="Largest run_timeout / time limit a request may ask."
            ),
        ] = 60.0,
        max_memory_mb: Annotated[
            int, typer.Option("--max-memory-mb", min=16, help="Largest memory limit a request may ask.")
        ] = 4096,
    ) -> None:
        from aiohttp import web

        from atest.core.sandbox import get_executor
        from atest.core.sandbox.service import ServiceLimits, build_app

        settings = sandbox_settings()
        if settings.executor == "sandboxfusion":
            raise InputError(
                "atest sandbox serve runs programs itself, not on another server",
                "drop --executor sandboxfusion / --sandbox-url (and $ATEST_SANDBOX_URL) for the server",
            )
        limits = ServiceLimits(
            max_pending=max_pending,
            max_body_bytes=int(max_body_mb * 1024 * 1024),
            max_jobs=max_jobs,
            max_seconds=max_seconds,
            max_memory_mb=max_memory_mb,
        )
        sock = _listen(host, port)
        if not _loopback(host) and not settings.token:
            console.print(
                f"[yellow]warning:[/] serving on {host} without a token: anyone who reaches this port "
                "can run programs here (set $ATEST_SANDBOX_TOKEN)",
                highlight=False,
            )
        with get_executor(workers=workers, settings=settings) as executor:
            app = build_app(executor, limits, settings.token)
            bound_host, bound_port = sock.getsockname()[:2]
            console.print(
                f"atest sandbox: serving on http://{bound_host}:{bound_port} "
                f"({executor.provider.name} executor; {', '.join(executor.layers) or 'limits only'})",
                highlight=False,
                soft_wrap=True,
            )
            web.run_app(app, sock=sock, print=None, handle_signals=True, access_log=None)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before any work so a taken port is a one-line error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--host {host!r}: {exc.strerror}", "use an address such as 127.0.0.1") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}", "pick another --port") from None
    sock.listen(1024)
    return sock


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
