"""``MoxnSpanExporter``: finished spans to the Moxn ingest API.

Assembled here, in one place, from wrappers with one job each::

    MoxnSpanExporter            spans -> events (span_to_wire), counters, SpanExportResult
     └─ Pipeline                the export's parts in flight together (max_in_flight)
      └─ SplitOnTooLarge        413: send halves, down to one event
         └─ Spooling            (optional) keep what could not be delivered; replay it
             └─ Retrying        408/429/5xx/connection errors: backoff, Retry-After, deadline
                 └─ IngestClient  HTTP: batch route or one event per request, signed URLs, gzip

The wrappers signal each other with the exceptions of ``_errors``; only
``SpanExportResult`` leaves ``export``, and nothing raises into the application.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence

import httpx
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from pydantic import SecretStr

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.exporters._batch import EventBatch, Outcome
from moxtrace.exporters._http import IngestClient, is_loopback
from moxtrace.exporters._pipeline import Pipeline
from moxtrace.exporters._retry import BatchSender, Retrying
from moxtrace.exporters._split import SplitOnTooLarge
from moxtrace.exporters._spool import DiskSpool, Spooling
from moxtrace.exporters._stats import ExportCounters, ExportStats
from moxtrace.exporters.events import span_to_wire
from moxtrace.retry import RetryPolicy
from moxtrace.settings import Settings

__all__ = ["MoxnSpanExporter"]

_logger = logging.getLogger("moxtrace.exporters")
_warn = RateLimitedLogger(_logger)

_MIN_PART_SPANS = 64
"""An export is cut into parts (for the pipeline) only where each keeps this many spans."""


class MoxnSpanExporter(SpanExporter):
    """Sends finished spans to the Moxn ingest API as ``TelemetryLogRequest`` events.

    Every option falls back to ``Settings`` (the ``MOXN_*`` environment variables),
    so ``MoxnSpanExporter()`` works as the OpenTelemetry traces exporter ``moxn``.
    Batches go to ``POST /telemetry/log-events`` (one event per request on servers
    without it), gzip-compressed, retried with backoff until ``deadline``; with a
    ``spool_dir``, batches that still could not be delivered are kept on disk and
    replayed (at-least-once delivery, also across restarts). ``export`` never raises.

    Args:
        api_key: sent as ``x-api-key`` (``MOXN_API_KEY``).
        base_url: the Moxn API (``MOXN_BASE_URL``).
        settings: where unset options come from (default: read the environment).
        include_content: send message content (the ``llm_call`` events' ``content``).
        spool_dir: keep undelivered batches here (``MOXN_SPOOL_DIR``); none: drop them.
        spool_max_bytes: the spool's size bound (``MOXN_SPOOL_MAX_BYTES``).
        spool_replay_interval: seconds between replays (``MOXN_SPOOL_REPLAY_INTERVAL``).
        timeout: seconds per request (``MOXN_EXPORT_TIMEOUT``).
        deadline: seconds one batch may take, retries included (``MOXN_EXPORT_DEADLINE``).
        compress: gzip request bodies (``MOXN_EXPORT_COMPRESSION``: ``gzip``, ``none``, or
            ``auto``, the default: gzip unless ``base_url`` is a loopback address, where
            compressing costs CPU at both ends and saves nothing).
        retry_policy: backoff parameters.
        batch_route: whether the server has ``POST /telemetry/log-events``; ``None``
            (default) finds out from the first reply, ``False`` sends one event per
            request from the start (as the hosted API needs).
        transport: an httpx transport, for custom TLS or tests.
        max_in_flight: requests of one export sent at the same time: an export of many
            spans is cut into this many parts, so the server stores one part while this
            process encodes the next and the server parses it. ``1``: one request.

    >>> exporter = MoxnSpanExporter(api_key="moxn_acme.s3cret", spool_dir="/var/spool/moxn")
    >>> provider.add_span_processor(BatchSpanProcessor(exporter))
    >>> exporter.stats.exported
    0
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        settings: Settings | None = None,
        include_content: bool = True,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int | None = None,
        spool_replay_interval: float | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
        compress: bool | None = None,
        retry_policy: RetryPolicy | None = None,
        batch_route: bool | None = None,
        transport: httpx.BaseTransport | None = None,
        max_in_flight: int = 2,
    ) -> None:
        s = settings or Settings()
        if api_key is None and s.api_key is not None:
            key = s.api_key
            api_key = key.get_secret_value() if isinstance(key, SecretStr) else str(key)
        if not api_key:
            _logger.warning("moxtrace: MoxnSpanExporter has no API key (set MOXN_API_KEY)")
        self.include_content = include_content
        self.deadline = s.export_deadline if deadline is None else deadline
        self._stop = threading.Event()
        self._closed = False
        self._counters = ExportCounters()
        url = base_url or s.base_url
        if compress is None:
            mode = s.export_compression
            compress = mode == "gzip" or (mode == "auto" and not is_loopback(url))
        self._client = IngestClient(
            url,
            api_key,
            timeout=s.export_timeout if timeout is None else timeout,
            compress=compress,
            transport=transport,
        )
        self._client.batch_route = batch_route
        retrying = Retrying(self._client, self._counters, retry_policy, stop=self._stop)
        self._spooling: Spooling | None = None
        inner: BatchSender = retrying
        spool_dir = s.spool_dir if spool_dir is None else spool_dir
        spool = None
        if spool_dir is not None:
            try:
                spool = DiskSpool(
                    spool_dir, s.spool_max_bytes if spool_max_bytes is None else spool_max_bytes
                )
            except OSError as exc:
                # Telemetry never stops the application from starting: go on without.
                _logger.error(
                    "moxtrace: cannot use the spool directory %s (%s); exporting without a "
                    "spool, undeliverable spans will be dropped",
                    spool_dir,
                    exc,
                )
        if spool is not None:
            self._spooling = Spooling(
                retrying,
                spool,
                self._counters,
                replay_interval=s.spool_replay_interval
                if spool_replay_interval is None
                else spool_replay_interval,
                replay_deadline=self.deadline,
                stop=self._stop,
            )
            inner = self._spooling
        self._pipeline = Pipeline(SplitOnTooLarge(inner), max_in_flight)

    @property
    def base_url(self) -> str:
        """Where batches go."""
        return self._client.base_url

    @property
    def spool(self) -> DiskSpool | None:
        """The disk spool, when one is configured."""
        return self._spooling.spool if self._spooling is not None else None

    @property
    def stats(self) -> ExportStats:
        """Spans exported, retried, spooled and dropped since the exporter was made."""
        spool = self.spool
        return self._counters.snapshot(in_spool=(lambda: spool.spans) if spool is not None else 0)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send ``spans``; SUCCESS when every span was delivered or spooled."""
        if self._closed:
            self._counters.add(Outcome(dropped=len(spans)))
            return SpanExportResult.FAILURE
        outcome = Outcome()
        bad = 0

        parts = self._parts(spans)

        def batches() -> Iterator[EventBatch]:
            nonlocal bad
            for part in parts:
                events = []
                for span in part:
                    try:
                        events.extend(span_to_wire(span, include_content=self.include_content))
                    except Exception as exc:
                        _warn.warning(
                            "bad-span", "moxtrace: cannot export span %r: %s", span.name, exc
                        )
                        bad += 1
                if events:
                    yield EventBatch.of(events)

        try:
            outcome = self._pipeline.send_all(
                batches(), time.monotonic() + self.deadline, len(parts)
            )
            outcome += Outcome(dropped=bad)
        except Exception:
            _logger.debug("moxtrace: MoxnSpanExporter.export raised", exc_info=True)
            _warn.error("export-raised", "moxtrace: exporting spans to Moxn failed")
            outcome = Outcome(dropped=len(spans))
        self._counters.add(outcome)
        return SpanExportResult.FAILURE if outcome.dropped else SpanExportResult.SUCCESS

    def _parts(self, spans: Sequence[ReadableSpan]) -> list[Sequence[ReadableSpan]]:
        if not spans:
            return []
        count = min(self._pipeline.depth, len(spans) // _MIN_PART_SPANS) or 1
        size = -(-len(spans) // count)
        return [spans[i : i + size] for i in range(0, len(spans), size)]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Replay the spool now; True when it is empty (or there is none)."""
        if self._spooling is None or self._closed:
            return True
        try:
            return self._spooling.replay(time.monotonic() + timeout_millis / 1000)
        except Exception:
            _logger.debug("moxtrace: spool replay raised", exc_info=True)
            return False

    def shutdown(self) -> None:
        """Stop retrying and replaying, close connections. Idempotent.

        Spooled batches stay on disk; the next exporter on the same spool sends them.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._spooling is not None:
            self._spooling.close()
        self._client.close()
        self._pipeline.close()
