"""``lowrankgan serve``: the interactive page (pick an image, draw a region, drag sliders).

``serve`` takes parameters; the CLI owns the ``serve`` flags and gets ``serve`` from the
``lowrankgan`` command (``lowrankgan.main``), never by importing this package. Light to import:
the web framework (Flask, served by waitress) is imported inside ``serve`` only, so the CLI starts
fast and works without the ``web`` extra.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Sequence

from .. import api
from ..errors import LowRankGANError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(models: Sequence[str] | None = None, class_name: str | None = None, host: str = "127.0.0.1",
          port: int = 7860, device: str = "auto", threads: int = 6, warmup: bool = True) -> int:
    """Serve the page on ``host:port`` until Ctrl+C. ``models``: the models offered (default: every
    zoo model, the default model first); ``warmup``: prepare seed 0 of the first in the background."""
    if not 0 <= port <= 65535:
        raise LowRankGANError(f"--port {port} is out of range 0..65535")
    if not 1 <= threads <= 64:
        raise LowRankGANError(f"--threads {threads} is out of range 1..64")
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401
    except ImportError as exc:
        raise LowRankGANError(f"`lowrankgan serve` needs the web extra ({exc.name} is missing): "
                              "pip install 'lowrankgan[web]'") from None
    from .server import LOOPBACK_NAMES, create_app, make_server
    from .session import Workspace

    api.resolve_device(device)  # fails early on --device cuda without CUDA
    api.use_threads()  # a render may run beside a computation: one torch thread each unless LOWRANKGAN_THREADS says
    zoo = [row["name"] for row in api.model_catalog() if row["source"] == "zoo"]
    models = list(models) if models else [api.DEFAULT_MODEL] + [m for m in zoo if m != api.DEFAULT_MODEL]
    workspace = Workspace(models, device=device, default_class=class_name)
    gen = workspace.model(models[0], class_name)  # bad --model / --class fail here, before listening
    loopback = _is_loopback(host)
    app = create_app(workspace, allowed_hosts=set(LOOPBACK_NAMES) if loopback else None)
    server = make_server(app, host, port, threads=threads)  # a port in use fails here
    if warmup:
        workspace.warmup(models[0], gen, 0)
    port = server.effective_port
    shown = f"[{host}]" if ":" in host else host
    print(f"lowrankgan serve: http://{shown}:{port}/  (model {models[0]}; Ctrl+C stops)", flush=True)
    if not loopback:
        print("lowrankgan serve: warning: listening beyond this machine; anyone who can reach "
              f"{host}:{port} can use the page", file=sys.stderr, flush=True)
    try:
        server.run()  # waitress returns here on Ctrl+C
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        workspace.close()
    print("lowrankgan serve: stopped", file=sys.stderr)
    return 0
