"""The ``haze`` command: ``python -m haze <command> ...`` (``python -m haze --help`` lists them)."""

from __future__ import annotations

import argparse
import logging
import sys

from config.errors import ConfigError
from config.settings import WORKER_ROLES
from haze import generate, replay
from haze.backtest import command as backtest
from haze.errors import HazeError


def _run(args: argparse.Namespace) -> int:
    """Start one worker (Kafka agent + HTTP API), configured only by the environment."""
    import asyncio

    import faust

    from config.settings import settings_from_env
    from haze.interpreter import tune_for_service
    from streams.app import build_app
    from streams.topics import ensure_topics

    settings = settings_from_env()
    created = asyncio.run(ensure_topics(settings))
    if created:
        logging.getLogger("haze").info("created topics: %s", ", ".join(created))
    if settings.mode == "demo" and settings.signal_key.startswith("haze-demo"):
        logging.getLogger("haze").warning(
            "demo mode: seller signals are keyed with the built-in demo key; "
            "set SCREEN_SIGNAL_KEY and SCREEN_MODE=production for real data"
        )
    app = build_app(settings, role=args.role)
    tune_for_service()  # GIL switch interval and GC thresholds (haze/interpreter.py says why)
    worker = faust.Worker(app, loglevel=args.loglevel, quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG, which makes every library debug
    # call build a log record (measured: ~5% of worker CPU). A service needs no spinner.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0


def _services(args: argparse.Namespace) -> int:
    from haze.localstack import LocalStack

    stack = LocalStack.from_env()
    if args.action == "up":
        stack.up()
    elif args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    for name, state in stack.status().items():
        print(f"{name:6} {state}")
    if args.action == "env":
        print(f"export KAFKA_BOOTSTRAP_SERVERS={stack.kafka_bootstrap} REDIS_URL={stack.redis_url}")
    return 0


def _prometheus(args: argparse.Namespace) -> int:
    from haze.localstack import local_prometheus

    server = local_prometheus()
    if args.action == "up":
        server.start()
        print(f"prometheus on {server.url} scraping {', '.join(server.targets)}")
    elif args.action == "down":
        print("stopped: prometheus" if server.stop() else "stopped: nothing was running")
    else:
        pid = server.pid()
        state = f"running (pid {pid}) on {server.url}" if pid and server.healthy() else "stopped"
        print(f"prometheus {state}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from haze.demo import run_demo

    return run_demo(count=args.count, rate=args.rate, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="haze", description="Haze listing screener")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start a worker (stream agent + HTTP API)")
    run.add_argument("--loglevel", default="info")
    run.add_argument(
        "--role",
        choices=WORKER_ROLES,
        default="all",
        help="all: stream agents and HTTP API (default); inline: the HTTP API alone, next to "
        "stream workers, so inline requests never share a process with a stream batch",
    )
    run.set_defaults(func=_run)
    services = sub.add_parser("services", help="start, stop or show the local Kafka and Redis")
    services.add_argument("action", choices=["up", "down", "status", "env"])
    services.set_defaults(func=_services)
    prometheus = sub.add_parser(
        "prometheus", help="start, stop or show a local Prometheus scraping the local worker"
    )
    prometheus.add_argument("action", choices=["up", "down", "status"])
    prometheus.set_defaults(func=_prometheus)
    demo = sub.add_parser("demo", help="stream synthetic listings through a worker, live")
    demo.add_argument("--count", type=int, default=3000)
    demo.add_argument("--rate", type=float, default=1000.0, help="listings per second (0: max)")
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=_demo)
    generate.add_parser(sub)
    backtest.add_parser(sub)
    replay.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"haze: configuration error: {exc}", file=sys.stderr)
        return 2
    except HazeError as exc:
        print(f"haze: {exc}", file=sys.stderr)
        return 1
