"""``kefu`` (also ``python -m server``): serve, and the offline tools over the same core."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from server.errors import KefuError
from server.settings import load_config


def _serve(args: argparse.Namespace) -> int:
    from server.runtime.app import serve

    config = load_config()
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kefu", description="客服助手 Kefu Assist")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the websocket and HTTP servers")
    serve.set_defaults(run=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KefuError as exc:
        print(f"kefu: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
