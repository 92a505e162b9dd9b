"""Running a collector process: ``moxtrace collector``.

Builds the plugin chain (``--config``), the sinks (``--sink``), the processor and the
sources (``--kafka``, ``--listen``), starts them — retrying with backoff while Kafka or
the database cannot be reached, so a collector may start before them — and runs until
SIGTERM or SIGINT. Then it stops taking records, gives in-flight deliveries
``shutdown_timeout`` seconds, commits what was delivered, leaves the consumer group
(its partitions move to the other collectors at once) and closes the sinks. Whatever
was not delivered is not committed: the group reads it again.

It prints a line when it consumes, when it listens and when it stopped (with its
counters, as JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from moxtrace.pipeline.collector import Collector
from moxtrace.pipeline.plugin import CollectorPlugin, PluginChain
from moxtrace.pipeline.processor import BatchProcessor
from moxtrace.pipeline.reassembly import SpanReassembler
from moxtrace.pipeline.settings import CollectorSettings, parse_listen
from moxtrace.pipeline.sinks import Sink, parse_sink
from moxtrace.server.gcpause import raise_gc_threshold

__all__ = ["EXIT_FAILED", "build_sinks", "load_chain", "run_collector"]

_logger = logging.getLogger("moxtrace.pipeline")

EXIT_FAILED = 1
"""Exit code when the collector stopped because of an error (see its log)."""


def load_chain(settings: CollectorSettings) -> list[CollectorPlugin]:
    """The plugins of ``settings.config`` (none without one); ``ValueError`` for a bad file."""
    if settings.config is None:
        return []
    from moxtrace.pipeline.config import load_plugins

    return load_plugins(settings.config)


def build_sinks(settings: CollectorSettings) -> list[Sink]:
    """The sinks of ``settings.sinks``; ``ValueError`` naming a bad one."""
    return [
        parse_sink(
            spec, pool_size=settings.db_pool_size, sweep_interval=settings.index_sweep_interval
        )
        for spec in settings.sinks
    ]


def run_collector(
    settings: CollectorSettings,
    *,
    plugins: list[CollectorPlugin] | None = None,
    out: TextIO | None = None,
) -> int:
    """Run until SIGTERM/SIGINT; the exit code (0 after a graceful stop)."""
    stream = out if out is not None else sys.stdout

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    _configure_logging(settings.log_level)
    # Decoding allocates many short-lived containers (see moxtrace.server.gcpause).
    raise_gc_threshold()
    chain = plugins if plugins is not None else load_chain(settings)
    return asyncio.run(_main(settings, chain, say))


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("moxtrace")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())


async def _until_started(
    what: str, start: Callable[[], Awaitable[None]], stop: asyncio.Event, limit: float
) -> bool:
    """Call ``start`` until it succeeds (True) or ``stop`` is set (False), with backoff."""
    delay = 0.5
    while not stop.is_set():
        try:
            await start()
            return True
        except Exception as exc:
            _logger.warning(
                "moxtrace collector: %s not available (%s: %s); retrying in %.1fs",
                what,
                type(exc).__name__,
                exc,
                delay,
            )
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, limit)
    return False


async def _main(
    settings: CollectorSettings, plugins: list[CollectorPlugin], say: Callable[[str], None]
) -> int:
    from moxtrace.pipeline.kafka_source import KafkaSource
    from moxtrace.pipeline.receiver import HttpListener

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stopped_by: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        stopped_by.append(sig.name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)

    sinks = build_sinks(settings)
    processor = BatchProcessor(
        PluginChain(plugins),
        SpanReassembler(settings.max_buffered_spans, settings.reassembly_timeout),
        default_tenant=settings.tenant,
    )
    collector = Collector(
        processor,
        sinks,
        max_inflight_batches=settings.max_inflight_batches,
        batch_spans=settings.batch_spans,
        sink_retry_max=settings.sink_retry_max,
        tick_interval=min(1.0, settings.reassembly_timeout / 4),
    )
    topic = settings.topic
    source = KafkaSource(collector, topic, settings) if topic is not None else None

    async def ready() -> bool:
        if source is not None and not source.started:
            return False
        return all(await asyncio.gather(*(sink.ready() for sink in sinks)))

    def stats() -> dict[str, Any]:
        out = collector.stats()
        if source is not None:
            out["kafka"] = source.stats()
        return out

    listener = None
    if settings.listen is not None:
        host, port = parse_listen(settings.listen)
        listener = HttpListener(
            collector,
            host,
            port,
            max_body_bytes=settings.max_body_bytes,
            request_timeout=settings.request_timeout,
            ready=ready,
            stats=stats,
        )
        await listener.start()
        say(f"moxtrace collector: listening on {listener.url}")
    started: list[Sink] = []
    failed = False
    runner: asyncio.Task[None] | None = None
    try:
        for sink in sinks:
            if not await _until_started(sink.name, sink.start, stop, settings.sink_retry_max):
                break
            started.append(sink)
        collector.start()
        if (
            len(started) == len(sinks)
            and source is not None
            and await _until_started(
                f"Kafka ({topic})", source.start, stop, settings.sink_retry_max
            )
        ):
            say(
                f"moxtrace collector: consuming {topic} in group {settings.group!r} "
                f"into {', '.join(s.name for s in sinks)}"
            )
            runner = loop.create_task(source.run(stop))
            runner.add_done_callback(lambda _: stop.set())
        gc.freeze()
        await stop.wait()
        if runner is not None and runner.done() and runner.exception() is not None:
            failed = True
            _logger.error(
                "moxtrace collector: the Kafka source failed", exc_info=runner.exception()
            )
    finally:
        if listener is not None:
            listener.accepting = False
        if runner is not None and not runner.done():
            # Records it polled and did not hand over stay uncommitted: read again later.
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        abandoned = await collector.stop(settings.shutdown_timeout)
        if abandoned:
            _logger.warning(
                "moxtrace collector: %d deliveries unfinished at shutdown; their records "
                "stay uncommitted and will be read again",
                abandoned,
            )
        if source is not None:
            await source.close()
        if listener is not None:
            await listener.stop()
        await collector.close()
        for sink in started:
            try:
                await sink.close()
            except Exception:
                _logger.exception("moxtrace collector: closing %s failed", sink.name)
        why = f" ({', '.join(stopped_by)})" if stopped_by else ""
        say(f"moxtrace collector: stopped{why} {json.dumps(stats(), separators=(',', ':'))}")
    return EXIT_FAILED if failed else 0
