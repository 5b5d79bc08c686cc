"""``lowrankgan serve``: the interactive page (pick an image, draw a region, drag sliders).

Light to import: the web framework (Flask, served by waitress) is imported inside ``run`` only,
so the CLI starts fast and works without the ``web`` extra.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from .. import api
from ..errors import LowRankGANError

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="serve only this model (zoo name or checkpoint path); default: every zoo model, "
                             "dcgan-faces first")
    parser.add_argument("--class", dest="class_name", default=None, help="initial class for conditional models")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present")
    parser.add_argument("--threads", type=int, default=6, help="request threads (default 6)")
    parser.add_argument("--cache-size", default=None,
                        help="disk space the Jacobian cache may use, e.g. 4G (default), 0: none; "
                             "least recently used Jacobians are deleted first")
    parser.add_argument("--no-warmup", action="store_true",
                        help="skip preparing seed 0 (Jacobian, one direction computation) in the background")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args) -> int:
    if not 0 <= args.port <= 65535:
        raise LowRankGANError(f"--port {args.port} is out of range 0..65535")
    if not 1 <= args.threads <= 64:
        raise LowRankGANError(f"--threads {args.threads} is out of range 1..64")
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401
    except ImportError as exc:
        raise LowRankGANError(f"`lowrankgan serve` needs the web extra ({exc.name} is missing): "
                              "pip install 'lowrankgan[web]'") from None
    from .server import LOOPBACK_NAMES, create_app, make_server
    from .session import Workspace

    api.resolve_device(args.device)  # fails early on --device cuda without CUDA
    zoo = [row["name"] for row in api.model_catalog() if row["source"] == "zoo"]
    models = [args.model] if args.model else [api.DEFAULT_MODEL] + [m for m in zoo if m != api.DEFAULT_MODEL]
    workspace = Workspace(models, device=args.device, default_class=args.class_name)
    gen = workspace.model(models[0], args.class_name)  # bad --model / --class fail here, before listening
    loopback = _is_loopback(args.host)
    app = create_app(workspace, allowed_hosts=set(LOOPBACK_NAMES) if loopback else None)
    server = make_server(app, args.host, args.port, threads=args.threads)  # a port in use fails here
    if not args.no_warmup:
        workspace.warmup(models[0], gen, 0)
    port = server.effective_port
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"lowrankgan serve: http://{shown}:{port}/  (model {models[0]}; Ctrl+C stops)", flush=True)
    if not loopback:
        print("lowrankgan serve: warning: listening beyond this machine; anyone who can reach "
              f"{args.host}:{port} can use the page", file=sys.stderr, flush=True)
    try:
        server.run()  # waitress returns here on Ctrl+C
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        workspace.close()
    print("lowrankgan serve: stopped", file=sys.stderr)
    return 0
