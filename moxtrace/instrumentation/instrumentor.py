"""``MoxnInstrumentor``: the provider SDK instrumentation as an OpenTelemetry instrumentor.

Registered as the ``opentelemetry_instrumentor`` entry point ``moxn``, so
``opentelemetry-instrument python app.py`` instruments an unchanged application (and
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=moxn`` leaves it out). Needs the
``opentelemetry-instrumentation`` package, which ``opentelemetry-instrument`` brings.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from moxtrace.instrumentation._api import instrument, uninstrument

__all__ = ["MoxnInstrumentor"]

_logger = logging.getLogger("moxtrace.instrumentation")


class MoxnInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments the installed provider SDKs (``anthropic``, ``openai``, ``google-genai``).

    ``instrument()`` takes the keyword arguments of ``moxtrace.instrument``:
    ``tracer_provider`` (default: the global one, which ``opentelemetry-instrument`` sets
    up), ``client``, ``content_capture`` and ``sdks``. It never raises: a failure is logged
    and the application starts uninstrumented.

    >>> MoxnInstrumentor().instrument(tracer_provider=provider)
    >>> MoxnInstrumentor().uninstrument()
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        # Each SDK is optional: whichever are installed get instrumented.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        try:
            instrument(
                kwargs.get("client"),
                tracer_provider=kwargs.get("tracer_provider"),
                content_capture=kwargs.get("content_capture"),
                sdks=kwargs.get("sdks"),
            )
        except Exception:
            _logger.exception("moxtrace: instrumenting the provider SDKs failed")

    def _uninstrument(self, **kwargs: Any) -> None:
        uninstrument(kwargs.get("sdks"))
