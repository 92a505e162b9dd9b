"""The ``moxtrace`` command: ``serve``, ``keys``, ``tail``, ``demo`` and ``collector``.

Each subcommand imports what it needs only when it runs, so ``moxtrace --help`` is quick
and ``moxtrace tail`` works without the server extra. Options of ``serve`` and ``keys``
also come from ``MOXN_SERVER_*`` environment variables (a flag wins), those of
``collector`` from ``MOXN_COLLECTOR_*``; ``tail`` reads ``MOXN_BASE_URL`` and
``MOXN_API_KEY``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["build_parser", "main"]

_ENV_PREFIX = "MOXN_SERVER_"


def _env(field: str) -> str:
    return _ENV_PREFIX + field.upper()


# (flag, settings field, type, metavar, help). Defaults come from ServerSettings.
_SERVE_OPTIONS: tuple[tuple[str, str, Callable[[str], Any], str, str], ...] = (
    ("--host", "host", str, "HOST", "interface to listen on (default 127.0.0.1)"),
    ("--port", "port", int, "PORT", "TCP port; 0 picks a free one (default 8700)"),
    (
        "--max-body-bytes",
        "max_body_bytes",
        int,
        "N",
        "largest request body, after gzip decompression; larger is 413 (default 8388608)",
    ),
    (
        "--rate-limit",
        "rate_limit",
        float,
        "RPS",
        "ingest requests per second per tenant; over it is 429 + Retry-After (default 0: off)",
    ),
    (
        "--rate-limit-burst",
        "rate_limit_burst",
        int,
        "N",
        "requests a tenant may send at once (default: max(1, RPS))",
    ),
    (
        "--max-inflight",
        "max_inflight",
        int,
        "N",
        "ingest requests read, parsed and written at once (default 2)",
    ),
    (
        "--max-queued",
        "max_queued",
        int,
        "N",
        "ingest requests waiting for a slot; one more is 503 + Retry-After (default 64)",
    ),
    (
        "--queue-timeout",
        "queue_timeout",
        float,
        "SECONDS",
        "longest wait for a slot before 503 (default 10)",
    ),
    ("--retry-after", "retry_after", int, "SECONDS", "Retry-After sent with 503 (default 1)"),
    (
        "--signed-url-ttl",
        "signed_url_ttl",
        int,
        "SECONDS",
        "lifetime of content upload URLs (default 900)",
    ),
    (
        "--public-url",
        "public_url",
        str,
        "URL",
        "base URL put in signed upload URLs (default: the URL of the request)",
    ),
    (
        "--sqlite-synchronous",
        "sqlite_synchronous",
        str,
        "normal|full",
        "SQLite durability: normal survives a crash or kill of the server, full also a power "
        "loss, for one fsync per commit (default normal)",
    ),
    ("--db-pool-size", "db_pool_size", int, "N", "PostgreSQL connections (default 8)"),
    (
        "--queue",
        "queue",
        str,
        "kafka://HOST:PORT/TOPIC",
        "ingest into this Kafka topic instead of the store, answering once the broker has it "
        "(503 + Retry-After while it is unreachable); `moxtrace collector` stores it "
        "(default: off; see docs/pipeline.md)",
    ),
    (
        "--tail-queue-size",
        "tail_queue_size",
        int,
        "N",
        "messages buffered per live-tail subscriber (default 1000)",
    ),
    (
        "--max-subscribers",
        "max_subscribers",
        int,
        "N",
        "concurrent live-tail connections (default 100)",
    ),
    (
        "--max-trace-spans",
        "max_trace_spans",
        int,
        "N",
        "spans per page of GET /traces/{id}; bigger traces come in pages (default 10000)",
    ),
    (
        "--tail-heartbeat",
        "tail_heartbeat",
        float,
        "SECONDS",
        "keep-alive comment interval on an idle live tail (default 15)",
    ),
    (
        "--key-cache-ttl",
        "key_cache_ttl",
        float,
        "SECONDS",
        "how long a verified API key is remembered: a revoked key works at most this long "
        "(default 30)",
    ),
    (
        "--query-wait",
        "query_wait",
        float,
        "SECONDS",
        "how long a query waits for acknowledged batches to be indexed (default 10)",
    ),
    (
        "--graceful-timeout",
        "graceful_timeout",
        float,
        "SECONDS",
        "time in-flight requests get after SIGTERM (default 10)",
    ),
    (
        "--log-level",
        "log_level",
        str,
        "LEVEL",
        "critical, error, warning, info or debug (default info)",
    ),
)


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"data directory: SQLite database, dev key file (default ~/.moxtrace; "
        f"env {_env('data_dir')})",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/db "
        f"(default SQLite in the data dir; env {_env('database_url')})",
    )


def _settings(args: argparse.Namespace, fields: Sequence[str]) -> Any:
    try:
        from moxtrace.server.settings import ServerSettings
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit(
            f"moxtrace: the server extra is missing ({exc}): pip install 'moxtrace[server]'"
        ) from None
    given = {f: getattr(args, f) for f in fields if getattr(args, f, None) is not None}
    try:
        return ServerSettings(**given)
    except ValueError as exc:
        print(f"moxtrace: invalid option: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _cmd_serve(args: argparse.Namespace) -> int:
    fields = ["data_dir", "database_url", *(f for _, f, *_ in _SERVE_OPTIONS)]
    settings = _settings(args, fields)
    if args.no_dev_key:
        settings.dev_key = False
    if args.access_log:
        settings.access_log = True
    from moxtrace.server.serve import serve

    return serve(settings)


async def _with_store(args: argparse.Namespace, action: Callable[[Any], Any]) -> Any:
    from moxtrace.server.store import Store

    settings = _settings(args, ["data_dir", "database_url"])
    store = await Store.open(
        settings.resolved_database_url(), sqlite_synchronous=settings.sqlite_synchronous
    )
    try:
        return await action(store)
    finally:
        await store.close()


def _cmd_keys_create(args: argparse.Namespace) -> int:
    from moxtrace.server.apikeys import validate_tenant

    try:
        validate_tenant(args.tenant)
    except ValueError as exc:
        print(f"moxtrace keys create: {exc}", file=sys.stderr)
        return 2
    key = asyncio.run(_with_store(args, lambda store: store.keys.create(args.tenant, args.label)))
    print(key.api_key)
    print(
        f"created key {key.key_id} for tenant {key.tenant!r}; it is shown only this once",
        file=sys.stderr,
    )
    return 0


def _cmd_keys_list(args: argparse.Namespace) -> int:
    from moxtrace.server.assemble import iso

    keys = asyncio.run(_with_store(args, lambda store: store.keys.list_keys(args.tenant)))
    print(f"{'TENANT':<24} {'KEY ID':<10} {'CREATED':<28} {'REVOKED':<28} LABEL")
    for key in keys:
        print(
            f"{key.tenant:<24} {key.key_id:<10} {iso(key.created_us) or '':<28} "
            f"{iso(key.revoked_us) or '-':<28} {key.label or ''}"
        )
    return 0


def _cmd_keys_revoke(args: argparse.Namespace) -> int:
    count = asyncio.run(
        _with_store(args, lambda store: store.keys.revoke(args.key_id, args.tenant))
    )
    if not count:
        print(f"moxtrace keys revoke: no active key {args.key_id!r}", file=sys.stderr)
        return 1
    print(f"revoked {count} key(s) {args.key_id}; servers forget it within --key-cache-ttl")
    return 0


def _cmd_tail(args: argparse.Namespace) -> int:
    from moxtrace.server.tail import TailOptions, run_tail
    from moxtrace.settings import Settings

    settings = Settings()
    base_url = args.base_url or settings.base_url
    api_key = args.api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    if not api_key:
        print("moxtrace tail: no API key: pass --api-key or set MOXN_API_KEY", file=sys.stderr)
        return 2
    color = sys.stdout.isatty() and not args.no_color and "NO_COLOR" not in os.environ
    options = TailOptions(
        max_traces=args.max_traces,
        json_lines=args.json,
        ascii=args.ascii,
        color=color,
        quiet=args.quiet,
        reconnect=not args.no_reconnect,
    )
    try:
        return run_tail(base_url, api_key, out=sys.stdout, options=options)
    except KeyboardInterrupt:
        return 130


def _kafka_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return value


def _cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from moxtrace.demo import DemoOptions, run_demo

    options = DemoOptions(
        data_dir=Path(args.data_dir) if args.data_dir else None,
        port=args.port,
        kafka=args.kafka,
        keep_running=args.keep_running,
        latency=args.latency,
        ascii=args.ascii,
    )
    return run_demo(options)


_COLLECTOR_ENV_PREFIX = "MOXN_COLLECTOR_"

# (flag, settings field, type, metavar, help). Defaults come from CollectorSettings.
_COLLECTOR_OPTIONS: tuple[tuple[str, str, Callable[[str], Any], str, str], ...] = (
    (
        "--kafka",
        "kafka",
        str,
        "kafka://HOST:PORT/TOPIC",
        "consume this topic (Moxn events from `serve --queue`, or OTLP from an OpenTelemetry "
        "Collector's Kafka exporter)",
    ),
    ("--group", "group", str, "NAME", "consumer group (default moxtrace-collector)"),
    (
        "--dead-letter-topic",
        "dead_letter_topic",
        str,
        "TOPIC",
        "where records that cannot be decoded go, the reason in header moxtrace-dlq-reason "
        "(default TOPIC.dlq)",
    ),
    (
        "--listen",
        "listen",
        str,
        "HOST:PORT",
        "serve /health, /ready, /stats and an OTLP/HTTP receiver (POST /v1/traces) here "
        "(default: off)",
    ),
    (
        "--config",
        "config",
        str,
        "FILE",
        "plugin configuration (YAML, TOML or JSON with a 'plugins' list; default: no plugins)",
    ),
    (
        "--tenant",
        "tenant",
        str,
        "NAME",
        "tenant of records without a moxtrace-tenant header (default dev)",
    ),
    ("--max-poll-records", "max_poll_records", int, "N", "records per batch (default 500)"),
    (
        "--max-inflight-batches",
        "max_inflight_batches",
        int,
        "N",
        "batches being delivered at once; when all are busy consumption pauses (default 4)",
    ),
    ("--batch-spans", "batch_spans", int, "N", "largest sink write, in spans (default 2000)"),
    (
        "--max-buffered-spans",
        "max_buffered_spans",
        int,
        "N",
        "spans waiting for the rest of their events; over it the oldest goes out partial "
        "(default 20000)",
    ),
    (
        "--reassembly-timeout",
        "reassembly_timeout",
        float,
        "SECONDS",
        "how long a span waits for its end event before it goes out partial (default 30)",
    ),
    (
        "--commit-interval",
        "commit_interval",
        float,
        "SECONDS",
        "time between offset commits (default 1)",
    ),
    (
        "--session-timeout",
        "session_timeout",
        float,
        "SECONDS",
        "Kafka gives a silent collector's partitions away after this long (default 10)",
    ),
    (
        "--max-poll-interval",
        "max_poll_interval",
        float,
        "SECONDS",
        "longest time between polls before Kafka takes the consumer for stuck (default 300)",
    ),
    (
        "--sink-retry-max",
        "sink_retry_max",
        float,
        "SECONDS",
        "longest wait between retries of a sink that cannot take a batch (default 30)",
    ),
    (
        "--shutdown-timeout",
        "shutdown_timeout",
        float,
        "SECONDS",
        "time in-flight deliveries get after SIGTERM; the rest is read again later (default 30)",
    ),
    (
        "--index-sweep-interval",
        "index_sweep_interval",
        float,
        "SECONDS",
        "store sink: how often to index batches a dead collector left unindexed (default 30)",
    ),
    ("--db-pool-size", "db_pool_size", int, "N", "store sink: database connections (default 8)"),
    (
        "--max-body-bytes",
        "max_body_bytes",
        int,
        "N",
        "OTLP/HTTP receiver: largest body after decompression; larger is 413 (default 8388608)",
    ),
    (
        "--request-timeout",
        "request_timeout",
        float,
        "SECONDS",
        "OTLP/HTTP receiver: time a request waits for delivery before 503 (default 30)",
    ),
    (
        "--log-level",
        "log_level",
        str,
        "LEVEL",
        "critical, error, warning, info or debug (default info)",
    ),
)


def _cmd_collector(args: argparse.Namespace) -> int:
    try:
        from moxtrace.pipeline.run import build_sinks, load_chain, run_collector
        from moxtrace.pipeline.settings import CollectorSettings
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit(
            f"moxtrace collector needs the collector extra ({exc}): "
            "pip install 'moxtrace[collector]'"
        ) from None
    given = {
        field: getattr(args, field)
        for _, field, *_ in _COLLECTOR_OPTIONS
        if getattr(args, field, None) is not None
    }
    if args.sinks:
        given["sinks"] = args.sinks
    try:
        settings = CollectorSettings(**given)
        plugins = load_chain(settings)
        build_sinks(settings)
    except (ValueError, OSError) as exc:
        print(f"moxtrace collector: invalid option: {exc}", file=sys.stderr)
        return 2
    return run_collector(settings, plugins=plugins)


def _add_collector(commands: Any) -> None:
    collector = commands.add_parser(
        "collector",
        help="consume spans from Kafka (or OTLP/HTTP), run plugins, write to sinks",
        description="Consume a Kafka topic in a consumer group — Moxn events written by "
        "`moxtrace serve --queue`, or OTLP from an OpenTelemetry Collector — and/or receive "
        "OTLP/HTTP; run the plugin chain (--config); write every span to every sink: the "
        "moxtrace store, OTLP backends, the Moxn API. Offsets are committed only once every "
        "sink has the spans (at-least-once; sinks are idempotent); records that cannot be "
        "decoded go to a dead-letter topic. Start more collectors in the same group to "
        "share the partitions. Every option can also be set as MOXN_COLLECTOR_<OPTION> "
        "(sinks as MOXN_COLLECTOR_SINKS, a JSON list). SIGTERM stops it gracefully. "
        "See docs/pipeline.md.",
    )
    for flag, field, kind, metavar, text in _COLLECTOR_OPTIONS:
        collector.add_argument(
            flag,
            dest=field,
            type=kind,
            metavar=metavar,
            help=f"{text}; env {_COLLECTOR_ENV_PREFIX}{field.upper()}",
        )
    collector.add_argument(
        "--sink",
        dest="sinks",
        action="append",
        metavar="KIND:TARGET",
        help="a destination, repeatable: store:DATABASE_URL (sqlite+aiosqlite:///PATH or "
        "postgresql+asyncpg://USER@HOST/DB), otlp:URL (any OTLP/HTTP backend, e.g. "
        "http://127.0.0.1:4318/v1/traces), moxn:URL (the Moxn API, key from MOXN_API_KEY); "
        f"env {_COLLECTOR_ENV_PREFIX}SINKS",
    )
    collector.set_defaults(func=_cmd_collector)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``moxtrace`` command."""
    parser = argparse.ArgumentParser(
        prog="moxtrace",
        description="OpenTelemetry-native tracing for LLM applications.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    serve = commands.add_parser(
        "serve",
        help="run the Moxn platform API locally (ingest, trace queries, live tail)",
        description="Run the Moxn platform API: ingest (Moxn wire format and OTLP/HTTP), "
        "trace queries and a live tail, stored in SQLite (default) or PostgreSQL. "
        "On first start a dev key is created, printed and saved to DATA_DIR/dev-api-key. "
        "Every option can also be set as MOXN_SERVER_<OPTION> (e.g. MOXN_SERVER_RATE_LIMIT). "
        "SIGTERM or Ctrl-C stops it gracefully.",
    )
    _add_store_options(serve)
    for flag, field, kind, metavar, text in _SERVE_OPTIONS:
        serve.add_argument(
            flag, dest=field, type=kind, metavar=metavar, help=f"{text}; env {_env(field)}"
        )
    serve.add_argument(
        "--no-dev-key",
        action="store_true",
        help=f"do not create a dev key on first start (env {_env('dev_key')}=false)",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help=f"log every request (env {_env('access_log')}=true)",
    )
    serve.set_defaults(func=_cmd_serve)

    keys = commands.add_parser(
        "keys",
        help="create, list and revoke API keys",
        description="Manage API keys (moxn_<tenant>.<secret>) in the server's database; "
        "servers pick up new keys at once and revoked ones within their --key-cache-ttl.",
    )
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    key_commands.required = True
    create = key_commands.add_parser(
        "create",
        help="create a key for a tenant and print it (shown only once)",
        description="Create an API key; the key is printed on stdout, details on stderr.",
    )
    create.add_argument("--tenant", required=True, help="tenant name: letters, digits, _ or -")
    create.add_argument("--label", help="a note to remember the key by")
    _add_store_options(create)
    create.set_defaults(func=_cmd_keys_create)
    listing = key_commands.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    _add_store_options(listing)
    listing.set_defaults(func=_cmd_keys_list)
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the KEY ID column of `moxtrace keys list`")
    revoke.add_argument("--tenant", help="only revoke the key of this tenant")
    _add_store_options(revoke)
    revoke.set_defaults(func=_cmd_keys_revoke)

    tail = commands.add_parser(
        "tail",
        help="follow newly stored traces and draw each as a tree",
        description="Follow a server's live tail (GET /traces/stream) and draw each trace "
        "as a tree once its root span has ended: span names, durations, model, tokens, "
        "errors.",
    )
    tail.add_argument(
        "--base-url", help="server URL (env MOXN_BASE_URL; default http://127.0.0.1:8700)"
    )
    tail.add_argument("--api-key", help="API key (env MOXN_API_KEY)")
    tail.add_argument("--max-traces", type=int, metavar="N", help="exit after N traces")
    tail.add_argument("--json", action="store_true", help="print stream messages as JSON lines")
    tail.add_argument("--ascii", action="store_true", help="draw with ASCII characters only")
    tail.add_argument("--no-color", action="store_true", help="no ANSI colours (also NO_COLOR)")
    tail.add_argument(
        "--quiet",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="draw a trace without a finished root after this long without news (default 5)",
    )
    tail.add_argument("--no-reconnect", action="store_true", help="exit when the connection drops")
    tail.set_defaults(func=_cmd_tail)

    demo = commands.add_parser(
        "demo",
        help="see it all work: a traced support bot on a local server, and the trace viewer",
        description="Start moxtrace serve on 127.0.0.1 (SQLite), create an API key, publish "
        "a task with two prompts to its registry and commit it, then run a small "
        "customer-support bot: sessions rendered from typed data, LLM calls answered by a "
        "built-in stand-in model (no network, no provider key), a tool call, a provider "
        "error, and a background worker that continues each trace. Prints every trace as "
        "a tree and the trace viewer's URL, then stops the server (unless --keep-running). "
        "Exits 1 if a step fails. See docs/demo.md.",
    )
    demo.add_argument(
        "--data-dir",
        metavar="DIR",
        help="keep the database and the demo's API key (DIR/demo-api-key) here; "
        "`moxtrace serve --data-dir DIR` serves them again (default: a temporary directory, "
        "removed at the end)",
    )
    demo.add_argument(
        "--port", type=int, default=0, metavar="PORT", help="server port (default: a free one)"
    )
    demo.add_argument(
        "--kafka",
        type=_kafka_address,
        metavar="HOST:PORT",
        help="hand jobs to the worker through this Kafka broker (a topic created for the run "
        "and deleted after) instead of an in-process queue; needs moxtrace[kafka]",
    )
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the server up to browse the traces in the viewer; Ctrl-C stops it",
    )
    demo.add_argument(
        "--latency",
        type=float,
        default=1.0,
        metavar="SCALE",
        help="scale of the stand-in model's simulated response times (default 1; 0: instant)",
    )
    demo.add_argument("--ascii", action="store_true", help="draw with ASCII characters only")
    demo.set_defaults(func=_cmd_demo)
    _add_collector(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``moxtrace`` command; the exit code."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
