"""``python -m injector.proxy tcp|hold|http --port-file FILE ...``: run one proxy until killed."""

from __future__ import annotations

import argparse
from pathlib import Path

from injector.proxy import hold, listener
from injector.proxy.delay import DelayProxy
from injector.proxy.http_fault import HttpFaultProxy


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m injector.proxy")
    sub = top.add_subparsers(dest="mode", required=True)
    for name in ("tcp", "hold", "http"):
        mode = sub.add_parser(name)
        mode.add_argument("--port-file", type=Path, required=True)
        mode.add_argument("--listen", default="127.0.0.1")
        if name == "tcp":
            mode.add_argument("--latency", type=float, required=True)
            mode.add_argument("--jitter", type=float, default=0.0)
        if name == "http":
            mode.add_argument("--status", type=int, required=True)
            mode.add_argument("--share", type=float, required=True)
            mode.add_argument("--path", default="/")
            mode.add_argument("--method", action="append", dest="methods")
            mode.add_argument("--abort", action="store_true")
            mode.add_argument("--delay", type=float)
    return top


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.mode == "tcp":
        handler = DelayProxy(args.latency, args.jitter).handle
    elif args.mode == "hold":
        handler = hold.handle
    else:
        handler = HttpFaultProxy(
            status=args.status,
            share=args.share,
            path=args.path,
            methods=frozenset(args.methods) if args.methods else None,
            abort=args.abort,
            delay=args.delay,
        ).handle
    listener.run(args.listen, args.port_file, handler)


if __name__ == "__main__":
    main()
