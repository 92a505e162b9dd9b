"""Traced Kafka producers and consumers for aiokafka.

One trace from the producer to the worker: ``TracedProducer`` wraps an
``AIOKafkaProducer`` so every send runs in a PRODUCER span ``send {topic}`` and carries
the W3C ``traceparent``/``tracestate``/``baggage`` (with the Moxn identity inside
``tracestate``) as record headers; ``TracedConsumer`` wraps an ``AIOKafkaConsumer`` so
each record is processed in a CONSUMER span ``process {topic}`` that is the *current*
span while your code runs — your own spans and LLM events become its children.

Why a wrapper, not a subclass or a patch: you keep constructing and configuring the
aiokafka objects yourself (and may already share them), the wrapper delegates every
other attribute to them, and it composes with ``opentelemetry-instrumentation-aiokafka``
(which patches the aiokafka classes) instead of fighting it. Headers are standard W3C
keys, so producers and consumers in other languages or instrumented by other libraries
interoperate in both directions.

Records whose trace headers are missing, malformed or oversized are processed under a
new trace, with one rate-limited warning; tracing never raises into your handler's path.

aiokafka is needed only to talk to Kafka: this module imports without it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.util.types import AttributeValue

from moxtrace._core import ClientCore
from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.tracing import semconv
from moxtrace.tracing.identity import EMPTY_IDENTITY, MoxnIdentity
from moxtrace.tracing.propagation import context_from_headers, trace_headers
from moxtrace.tracing.runtime import TracingRuntime
from moxtrace.tracing.scope import SCOPE_KEY, Scope
from moxtrace.tracing.spans import finish_span, record_error
from moxtrace.types.carrier import MoxnTraceCarrier

__all__ = [
    "TRACE_HEADER_KEYS",
    "ConsumedBatch",
    "ConsumedRecord",
    "TracedConsumer",
    "TracedProducer",
    "carrier_from_record",
    "context_from_record",
    "inject_headers",
]

_logger = logging.getLogger("moxtrace.kafka")
_warn = RateLimitedLogger(_logger)

TRACE_HEADER_KEYS = frozenset({"traceparent", "tracestate", "baggage"})
"""The record headers moxtrace writes and reads (standard W3C keys)."""

_MAX_HEADER_BYTES = 8192
R = TypeVar("R")


class KafkaRecord(Protocol):
    """What moxtrace reads of a consumed record (aiokafka's ``ConsumerRecord``)."""

    topic: str
    partition: int
    offset: int
    key: Any
    headers: Sequence[tuple[str, bytes]]


def _runtime(client: ClientCore | TracingRuntime) -> TracingRuntime:
    return client.tracing if isinstance(client, ClientCore) else client


def _key_attribute(key: Any) -> str | None:
    if key is None:
        return None
    if isinstance(key, bytes | bytearray):
        try:
            return bytes(key).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(key).hex()
    return str(key)


def inject_headers(
    headers: Iterable[tuple[str, bytes]] | None, context: Context | None = None
) -> list[tuple[str, bytes]]:
    """``headers`` plus the trace headers of the current (or given) context.

    Headers the caller set are kept, in order; earlier trace headers are replaced, so a
    record never carries two parents. With no active span, nothing is added.
    """
    kept = [(k, v) for k, v in headers or () if k not in TRACE_HEADER_KEYS]
    trace = trace_headers(context)
    if trace is not None:
        kept.extend((k, v.encode()) for k, v in trace.items())
    return kept


def _trace_header_values(record: KafkaRecord) -> tuple[dict[str, str], str | None]:
    """The record's W3C header values (the first of each key), and what was wrong."""
    found: dict[str, str] = {}
    problem: str | None = None
    for item in record.headers or ():
        try:
            key, value = item
        except (TypeError, ValueError):
            problem = "headers that are not (key, value) pairs"
            continue
        if key not in TRACE_HEADER_KEYS or key in found:
            continue
        if not isinstance(value, bytes | bytearray) or len(value) > _MAX_HEADER_BYTES:
            problem = f"oversized or non-bytes {key} header"
            continue
        try:
            found[key] = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            problem = f"{key} header is not UTF-8"
    return found, problem


def _warn_unusable(record: KafkaRecord, reason: str) -> None:
    _warn.warning(
        f"kafka-carrier-{record.topic}",
        "moxtrace: record %s[%s]@%s has unusable trace headers (%s); processing under a new trace",
        record.topic,
        record.partition,
        record.offset,
        reason,
    )


def context_from_record(
    record: KafkaRecord, base: Context | None = None
) -> tuple[Context, MoxnIdentity | None] | None:
    """The producer's context from a record's headers, and the Moxn identity they carry;
    ``None`` (with a rate-limited warning) when they are missing or unusable."""
    try:
        values, problem = _trace_header_values(record)
        found = context_from_headers(
            values.get("traceparent"), values.get("tracestate"), values.get("baggage"), base
        )
    except Exception:
        found, problem = None, "unreadable headers"
    if found is None:
        if problem is None:
            problem = (
                "no traceparent header"
                if "traceparent" not in values
                else (f"bad traceparent {values['traceparent'][:60]!r}")
            )
        _warn_unusable(record, problem)
    elif problem is not None:
        _warn_unusable(record, problem)
    return found


def carrier_from_record(record: KafkaRecord) -> MoxnTraceCarrier:
    """The ``MoxnTraceCarrier`` in a record's headers (check ``carrier.valid``)."""
    return MoxnTraceCarrier.from_kafka_headers(list(record.headers or ()))


class TracedProducer:
    """An ``AIOKafkaProducer`` whose sends are traced and carry the trace in headers.

    >>> producer = TracedProducer(AIOKafkaProducer(bootstrap_servers=...), client)
    >>> await producer.start()
    >>> async with client.span(session):
    ...     await producer.send_and_wait("orders", b"payload", key=b"order-42")

    Every other attribute (``start``, ``stop``, ``flush``, ...) is the wrapped producer's.
    """

    def __init__(self, producer: Any, client: ClientCore | TracingRuntime) -> None:
        self.producer = producer
        self._runtime = _runtime(client)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.producer, name)

    def _start(self, topic: str, key: Any, partition: int | None) -> Span:
        attributes: dict[str, AttributeValue] = {
            semconv.MESSAGING_SYSTEM: "kafka",
            semconv.MESSAGING_DESTINATION_NAME: topic,
            semconv.MESSAGING_OPERATION_TYPE: "send",
            semconv.MESSAGING_OPERATION_NAME: "send",
        }
        key_attr = _key_attribute(key)
        if key_attr is not None:
            attributes[semconv.MESSAGING_KAFKA_MESSAGE_KEY] = key_attr
        if partition is not None:
            attributes[semconv.MESSAGING_DESTINATION_PARTITION_ID] = str(partition)
        return self._runtime.tracer.start_span(
            f"send {topic}", kind=SpanKind.PRODUCER, attributes=attributes
        )

    async def _traced(
        self,
        topic: str,
        key: Any,
        partition: int | None,
        headers: Iterable[tuple[str, bytes]] | None,
        send: Callable[[list[tuple[str, bytes]]], Awaitable[R]],
        on_result: Callable[[Span, R], None] | None = None,
    ) -> R:
        if self._runtime.disabled:
            return await send(list(headers or ()))
        span = self._start(topic, key, partition)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            record_headers = inject_headers(headers)
            try:
                result = await send(record_headers)
            except BaseException as exc:
                record_error(span, exc)
                raise
            if on_result is not None:
                on_result(span, result)
            return result
        finally:
            span.end()
            otel_context.detach(token)

    async def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Iterable[tuple[str, bytes]] | None = None,
    ) -> Any:
        """Like ``AIOKafkaProducer.send``: returns the delivery future once enqueued.

        The PRODUCER span covers handing the record to the producer.
        """

        async def send(record_headers: list[tuple[str, bytes]]) -> Any:
            return await self.producer.send(
                topic,
                value=value,
                key=key,
                partition=partition,
                timestamp_ms=timestamp_ms,
                headers=record_headers,
            )

        return await self._traced(topic, key, partition, headers, send)

    async def send_and_wait(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Iterable[tuple[str, bytes]] | None = None,
    ) -> Any:
        """Like ``AIOKafkaProducer.send_and_wait``; the span ends when the broker has
        acknowledged and records the partition and offset."""

        async def send(record_headers: list[tuple[str, bytes]]) -> Any:
            return await self.producer.send_and_wait(
                topic,
                value=value,
                key=key,
                partition=partition,
                timestamp_ms=timestamp_ms,
                headers=record_headers,
            )

        def on_result(span: Span, metadata: Any) -> None:
            partition_id = getattr(metadata, "partition", None)
            offset = getattr(metadata, "offset", None)
            if partition_id is not None:
                span.set_attribute(semconv.MESSAGING_DESTINATION_PARTITION_ID, str(partition_id))
            if offset is not None:
                span.set_attribute(semconv.MESSAGING_KAFKA_OFFSET, offset)

        return await self._traced(topic, key, partition, headers, send, on_result)

    def append_to_batch(
        self,
        batch: Any,
        *,
        topic: str,
        value: Any,
        key: Any = None,
        timestamp: int | None = None,
        headers: Iterable[tuple[str, bytes]] | None = None,
    ) -> Any:
        """``batch.append(...)`` for a batch from ``create_batch()``, in a PRODUCER span
        of its own, with the trace headers added. Returns what ``append`` returns
        (``None`` when the batch is full). Send the batch with ``send_batch`` as usual."""
        if self._runtime.disabled:
            return batch.append(
                timestamp=timestamp, key=key, value=value, headers=list(headers or ())
            )
        span = self._start(topic, key, None)
        try:
            record_headers = inject_headers(headers, trace.set_span_in_context(span))
            return batch.append(timestamp=timestamp, key=key, value=value, headers=record_headers)
        finally:
            span.end()


class _ProcessingSpan:
    """A CONSUMER span started on ``with`` / ``async with`` and current inside the block;
    an exception raised there is recorded (status ERROR) and re-raised."""

    __slots__ = ("_consumer", "_span", "_token")

    def __init__(self, consumer: TracedConsumer) -> None:
        self._consumer = consumer
        self._span: Span | None = None
        self._token: object | None = None

    def _start(self) -> tuple[Span | None, object | None]:
        raise NotImplementedError

    def _value(self) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._span, self._token = self._start()
        return self._value()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, token = self._span, self._token
        self._span = self._token = None
        finish_span(span, token, exc)

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class ConsumedRecord(_ProcessingSpan):
    """A consumed record and its CONSUMER span ``process {topic}``, started on
    ``async with`` (or ``with``), which gives the aiokafka record."""

    __slots__ = ("record",)

    def __init__(self, consumer: TracedConsumer, record: KafkaRecord) -> None:
        super().__init__(consumer)
        self.record = record

    def _start(self) -> tuple[Span | None, object | None]:
        return self._consumer._begin(self.record)

    def _value(self) -> Any:
        return self.record


class ConsumedBatch(_ProcessingSpan):
    """Records fetched together (``getmany``), processed in ONE CONSUMER span with a
    link to each record's producer span. ``records`` lists them in fetch order."""

    __slots__ = ("records",)

    def __init__(self, consumer: TracedConsumer, records: list[Any]) -> None:
        super().__init__(consumer)
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def _start(self) -> tuple[Span | None, object | None]:
        return self._consumer._begin_batch(self.records)

    def _value(self) -> list[Any]:
        return self.records


class TracedConsumer:
    """An ``AIOKafkaConsumer`` whose records are processed in CONSUMER spans.

    Three ways to use it, all giving the same spans:

    >>> traced = TracedConsumer(consumer, client, group_id="workers")
    >>> async for message in traced.messages():      # one record at a time
    ...     async with message as record:
    ...         await handle(record)
    ...     await consumer.commit()                    # manual commit after success
    >>> @traced.handler                                # or decorate the handler
    ... async def handle(record): ...
    >>> async for batch in traced.batches(timeout_ms=500):   # getmany: one span, links
    ...     async with batch as records: ...

    ``use_links=True`` makes the producer's span a link instead of the parent: each
    processing span then starts a trace of its own (or continues the current one).
    Every other attribute is the wrapped consumer's.
    """

    def __init__(
        self,
        consumer: Any,
        client: ClientCore | TracingRuntime,
        *,
        group_id: str | None = None,
        use_links: bool = False,
    ) -> None:
        self.consumer = consumer
        self._runtime = _runtime(client)
        self.group_id = group_id or getattr(consumer, "_group_id", None)
        self.use_links = use_links

    def __getattr__(self, name: str) -> Any:
        return getattr(self.consumer, name)

    # -- spans ---------------------------------------------------------------------------
    def _attributes(self, topic: str) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {
            semconv.MESSAGING_SYSTEM: "kafka",
            semconv.MESSAGING_DESTINATION_NAME: topic,
            semconv.MESSAGING_OPERATION_TYPE: "process",
            semconv.MESSAGING_OPERATION_NAME: "process",
        }
        if self.group_id:
            attributes[semconv.MESSAGING_CONSUMER_GROUP_NAME] = self.group_id
        return attributes

    def _begin(self, record: KafkaRecord) -> tuple[Span | None, object | None]:
        if self._runtime.disabled:
            return None, None
        try:
            found = context_from_record(record, otel_context.get_current())
            parent: Context | None = None
            identity: MoxnIdentity = EMPTY_IDENTITY
            links: list[Link] = []
            if found is not None:
                remote, found_identity = found
                identity = found_identity or EMPTY_IDENTITY
                if self.use_links:
                    links.append(Link(trace.get_current_span(remote).get_span_context()))
                else:
                    parent = remote
            elif not self.use_links:
                parent = Context()  # unusable headers: a new trace, not the caller's
            attributes = self._attributes(record.topic)
            attributes[semconv.MESSAGING_DESTINATION_PARTITION_ID] = str(record.partition)
            attributes[semconv.MESSAGING_KAFKA_OFFSET] = record.offset
            key = _key_attribute(record.key)
            if key is not None:
                attributes[semconv.MESSAGING_KAFKA_MESSAGE_KEY] = key
            attributes.update(identity.attributes)
            span = self._runtime.tracer.start_span(
                f"process {record.topic}",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                links=links,
            )
            ctx = trace.set_span_in_context(span, parent)
            if identity:
                # The identity travels on (extract_context, further hops); LLM events in
                # the handler still get spans of their own (the scope holds no span).
                ctx = otel_context.set_value(SCOPE_KEY, Scope(identity, None), ctx)
            return span, otel_context.attach(ctx)
        except Exception:
            _logger.debug("moxtrace: starting a consumer span failed", exc_info=True)
            return None, None

    def _begin_batch(self, records: list[Any]) -> tuple[Span | None, object | None]:
        if self._runtime.disabled or not records:
            return None, None
        try:
            links = []
            for record in records:
                found = context_from_record(record)
                if found is not None:
                    remote, _ = found
                    links.append(
                        Link(
                            trace.get_current_span(remote).get_span_context(),
                            {
                                semconv.MESSAGING_KAFKA_OFFSET: record.offset,
                                semconv.MESSAGING_DESTINATION_PARTITION_ID: str(record.partition),
                            },
                        )
                    )
            topics = sorted({r.topic for r in records})
            attributes = self._attributes(topics[0] if len(topics) == 1 else ",".join(topics))
            attributes[semconv.MESSAGING_BATCH_MESSAGE_COUNT] = len(records)
            name = f"process {topics[0]}" if len(topics) == 1 else "process"
            span = self._runtime.tracer.start_span(
                name, kind=SpanKind.CONSUMER, attributes=attributes, links=links
            )
            return span, otel_context.attach(trace.set_span_in_context(span))
        except Exception:
            _logger.debug("moxtrace: starting a batch span failed", exc_info=True)
            return None, None

    # -- the three ways in ---------------------------------------------------------------
    async def messages(self) -> AsyncIterator[ConsumedRecord]:
        """Each record as a ``ConsumedRecord``: process it inside ``async with``."""
        async for record in self.consumer:
            yield ConsumedRecord(self, record)

    async def batches(
        self, *partitions: Any, timeout_ms: int = 1000, max_records: int | None = None
    ) -> AsyncIterator[ConsumedBatch]:
        """``getmany`` in a loop: each non-empty fetch as one ``ConsumedBatch``."""
        while True:
            fetched: Mapping[Any, list[Any]] = await self.consumer.getmany(
                *partitions, timeout_ms=timeout_ms, max_records=max_records
            )
            records = [r for batch in fetched.values() for r in batch]
            if records:
                yield ConsumedBatch(self, records)

    def record(self, record: KafkaRecord) -> ConsumedRecord:
        """The processing span for a record you fetched yourself."""
        return ConsumedRecord(self, record)

    def handler(self, fn: Callable[[Any], Awaitable[R]]) -> Callable[[Any], Awaitable[R]]:
        """Decorate ``async def handle(record)`` so each call runs in the record's span."""

        @functools.wraps(fn)
        async def traced(record: Any) -> R:
            async with ConsumedRecord(self, record):
                return await fn(record)

        return traced
