"""``cost``: the USD cost of each LLM call, from its token usage and a price table.

For every span with a model (``gen_ai.response.model``, else ``gen_ai.request.model``)
and token usage (``gen_ai.usage.*``) it adds:

=================================== ===================================================
attribute                           value (USD, float)
=================================== ===================================================
``moxn.llm.cost.usd``               the call's cost: input + output
``moxn.llm.cost.input.usd``         all input: uncached, cache reads and cache writes
``moxn.llm.cost.output.usd``        output (reasoning/thinking tokens included)
``moxn.llm.cost.cache_read.usd``    the part of input read from a prompt cache
``moxn.llm.cost.cache_creation.usd`` the part of input written to a prompt cache
``moxn.llm.cost.model``             the price-table entry used (``claude-sonnet-4-5``)
=================================== ===================================================

How tokens are priced (per million, from the table):

- ``gen_ai.usage.input_tokens`` counts all input, cached or not (the GenAI conventions,
  and moxtrace); ``gen_ai.usage.cache_read.input_tokens`` are priced at ``cache_read``
  and ``gen_ai.usage.cache_creation.input_tokens`` at ``cache_write``, and both are
  subtracted from the input priced at ``input``. (If input is smaller than the cache
  counts, the instrumentation reported uncached input only, as Anthropic's raw API
  does, and it is taken as such.) A missing cache price is the input price.
- ``gen_ai.usage.output_tokens`` are priced at ``output``. Providers bill reasoning
  tokens as output and report them inside the output count, so
  ``gen_ai.usage.reasoning.output_tokens`` adds nothing — unless it exceeds the output
  count, which means the instrumentation reported them apart, and they are added.
- Long-context tiers (Claude Sonnet 4.x and Gemini Pro above 200K input tokens): the
  whole request is priced at the tier's rates.

The table ships with the package (``collector_plugins/prices.json``: Anthropic, OpenAI
and Google models, with cache prices; ``as_of`` says when it was checked). Model names
are matched exactly, then as a dated snapshot of an entry (``claude-sonnet-4-5-20250929``,
``gpt-4o-2024-08-06``, ``claude-sonnet-4-5@20250929``, ``gemini-1.5-pro-002``,
``...-latest``, Bedrock's ``anthropic.claude-...-v1:0``), after dropping a ``provider/``
or ``models/`` prefix. A model not in the table gets no cost attributes; it is counted
(``counts()["unknown_model"]``) and logged (rate-limited).

Options::

    price_file: /etc/moxtrace/prices.yaml   # JSON, TOML or YAML, same shape as prices.json
    prices:                                 # inline entries (win over the price file)
      my-finetune: {input: 3.0, output: 12.0, cache_read: 0.3}
    aliases: {my-alias: gpt-4o}
    builtin_prices: true                    # false: only your prices
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar, Final

from opentelemetry.sdk.trace import ReadableSpan
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from moxtrace._ratelimit import RateLimitedLogger
from moxtrace.pipeline.config import PluginOptionError, parse_options
from moxtrace.pipeline.plugin import CollectorPlugin, replace_span
from moxtrace.tracing import semconv

__all__ = [
    "COST_CACHE_CREATION_USD",
    "COST_CACHE_READ_USD",
    "COST_INPUT_USD",
    "COST_MODEL",
    "COST_OUTPUT_USD",
    "COST_USD",
    "Cost",
    "CostOptions",
    "CostPlugin",
    "ModelPrice",
    "PriceTable",
    "TierPrice",
    "compute_cost",
]

COST_USD: Final = "moxn.llm.cost.usd"
COST_INPUT_USD: Final = "moxn.llm.cost.input.usd"
COST_OUTPUT_USD: Final = "moxn.llm.cost.output.usd"
COST_CACHE_READ_USD: Final = "moxn.llm.cost.cache_read.usd"
COST_CACHE_CREATION_USD: Final = "moxn.llm.cost.cache_creation.usd"
COST_MODEL: Final = "moxn.llm.cost.model"

_logger = logging.getLogger("collector_plugins.cost")
_warn = RateLimitedLogger(_logger)
_PER_TOKEN = 1e-6
_LOOKUP_CACHE_SIZE = 4096
_UNKNOWN_NAMES_KEPT = 100
# What may follow a table entry's name in a dated snapshot of it.
_SNAPSHOT = re.compile(
    r"(?=.)(?:-v\d+)?(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|\d{3,4}|latest))*(?:-v\d+(?::\d+)?)?"
)
_BEDROCK_PREFIX = re.compile(r"^(?:(?:us|eu|apac|ap|jp|au|ca|global|us-gov)\.)?[a-z]+\.(?=[a-z])")


class TierPrice(BaseModel):
    """Prices for requests whose input exceeds ``above_input_tokens``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    above_input_tokens: int = Field(ge=0)
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)


class ModelPrice(BaseModel):
    """A model's prices in USD per million tokens (see ``prices.json``'s ``about``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str | None = None
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)
    tiers: tuple[TierPrice, ...] = ()

    def rates(self, input_tokens: float) -> tuple[float, float, float, float]:
        """``(input, output, cache_read, cache_write)`` for a request of that input size."""
        price: ModelPrice | TierPrice = self
        for tier in sorted(self.tiers, key=lambda t: t.above_input_tokens):
            if input_tokens > tier.above_input_tokens:
                price = tier
        read = price.cache_read if price.cache_read is not None else price.input
        write = price.cache_write if price.cache_write is not None else price.input
        return price.input, price.output, read, write


@dataclass(frozen=True)
class Cost:
    """The cost of one call in USD; ``input_usd`` includes both cache parts."""

    model: str
    input_usd: float
    output_usd: float
    cache_read_usd: float
    cache_creation_usd: float

    @property
    def total_usd(self) -> float:
        """Input plus output."""
        return _round(self.input_usd + self.output_usd)

    def attributes(self) -> dict[str, Any]:
        """The span attributes recording this cost."""
        return {
            COST_USD: self.total_usd,
            COST_INPUT_USD: self.input_usd,
            COST_OUTPUT_USD: self.output_usd,
            COST_CACHE_READ_USD: self.cache_read_usd,
            COST_CACHE_CREATION_USD: self.cache_creation_usd,
            COST_MODEL: self.model,
        }


def _round(value: float) -> float:
    return round(value, 10)


def compute_cost(
    model: str,
    price: ModelPrice,
    *,
    input_tokens: float = 0,
    output_tokens: float = 0,
    cache_read_tokens: float = 0,
    cache_creation_tokens: float = 0,
    reasoning_tokens: float = 0,
) -> Cost:
    """The cost of a call with these token counts (``input_tokens`` includes cached input).

    >>> price = ModelPrice(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)
    >>> compute_cost("m", price, input_tokens=1500, output_tokens=50,
    ...              cache_read_tokens=1000, cache_creation_tokens=300).total_usd
    0.002775
    """
    cached = cache_read_tokens + cache_creation_tokens
    if input_tokens >= cached:
        uncached = input_tokens - cached
        total_input = input_tokens
    else:  # the instrumentation reported uncached input only
        uncached = input_tokens
        total_input = input_tokens + cached
    if reasoning_tokens > output_tokens:  # reasoning reported apart from output
        output_tokens += reasoning_tokens
    rate_in, rate_out, rate_read, rate_write = price.rates(total_input)
    read = cache_read_tokens * rate_read * _PER_TOKEN
    write = cache_creation_tokens * rate_write * _PER_TOKEN
    return Cost(
        model=model,
        input_usd=_round(uncached * rate_in * _PER_TOKEN + read + write),
        output_usd=_round(output_tokens * rate_out * _PER_TOKEN),
        cache_read_usd=_round(read),
        cache_creation_usd=_round(write),
    )


class PriceTable:
    """Model prices with snapshot-aware lookup: ``table.lookup("gpt-4o-2024-08-06")``."""

    def __init__(
        self, models: Mapping[str, ModelPrice], aliases: Mapping[str, str] | None = None
    ) -> None:
        self.models = {name.lower(): price for name, price in models.items()}
        self.aliases = {a.lower(): t.lower() for a, t in (aliases or {}).items()}
        # Longest names first: 'gpt-4o-mini-2024-07-18' must find 'gpt-4o-mini', not 'gpt-4o'.
        self._by_length = sorted(self.models, key=len, reverse=True)
        self._cache: dict[str, tuple[str, ModelPrice] | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "<prices>") -> PriceTable:
        """A table from ``{"models": {name: price}, "aliases": {alias: name}}``.

        ``ValueError`` naming the entry and field at fault.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a mapping with 'models'")
        unknown = sorted(set(data) - {"models", "aliases", "about", "as_of", "sources"})
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {', '.join(unknown)}")
        raw_models = data.get("models") or {}
        raw_aliases = data.get("aliases") or {}
        if not isinstance(raw_models, Mapping) or not isinstance(raw_aliases, Mapping):
            raise ValueError(f"{source}: 'models' and 'aliases' must be mappings")
        models: dict[str, ModelPrice] = {}
        for name, raw in raw_models.items():
            try:
                models[str(name)] = ModelPrice.model_validate(raw)
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in ("models", name, *error["loc"]))
                raise ValueError(f"{source}: {where}: {error['msg']}") from None
        aliases = {str(k): str(v) for k, v in raw_aliases.items()}
        return cls(models, aliases)

    def check_aliases(self) -> None:
        """``ValueError`` naming the first alias whose target is not in the table."""
        for alias, target in self.aliases.items():
            if target not in self.models:
                raise ValueError(f"alias {alias!r}: no model {target!r} in the price table")

    @classmethod
    def builtin(cls) -> PriceTable:
        """The table shipped with the package (``collector_plugins/prices.json``)."""
        return _builtin_table()

    def merged(self, other: PriceTable) -> PriceTable:
        """This table with ``other``'s entries added (``other`` wins)."""
        return PriceTable({**self.models, **other.models}, {**self.aliases, **other.aliases})

    def lookup(self, model: str) -> tuple[str, ModelPrice] | None:
        """``(entry name, price)`` for a model name as spans carry it, or None."""
        with self._lock:
            if model in self._cache:
                return self._cache[model]
        found = self._find(model)
        with self._lock:
            if len(self._cache) >= _LOOKUP_CACHE_SIZE:
                self._cache.clear()
            self._cache[model] = found
        return found

    def _find(self, model: str) -> tuple[str, ModelPrice] | None:
        name = model.strip().lower()
        candidates = [name]
        if "/" in name:
            candidates.append(name.rsplit("/", 1)[1])
        for candidate in list(candidates):
            stripped = _BEDROCK_PREFIX.sub("", candidate)
            if stripped != candidate:
                candidates.append(stripped)
        for candidate in candidates:
            found = self._exact(candidate)
            if found is not None:
                return found
        for candidate in candidates:
            for entry in self._by_length:
                if candidate.startswith(entry) and _SNAPSHOT.fullmatch(candidate[len(entry) :]):
                    return entry, self.models[entry]
            for alias, target in self.aliases.items():
                if candidate.startswith(alias) and _SNAPSHOT.fullmatch(candidate[len(alias) :]):
                    return target, self.models[target]
        return None

    def _exact(self, name: str) -> tuple[str, ModelPrice] | None:
        if name in self.models:
            return name, self.models[name]
        target = self.aliases.get(name)
        if target is not None and target in self.models:
            return target, self.models[target]
        return None


@lru_cache(maxsize=1)
def _builtin_table() -> PriceTable:
    text = resources.files("collector_plugins").joinpath("prices.json").read_text("utf-8")
    table = PriceTable.from_mapping(json.loads(text), "collector_plugins/prices.json")
    table.check_aliases()
    return table


class CostOptions(BaseModel):
    """The options of ``cost`` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    price_file: str | None = None
    prices: dict[str, ModelPrice] = {}
    aliases: dict[str, str] = {}
    builtin_prices: bool = True


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value >= 0 else None


class CostPlugin(CollectorPlugin):
    """Adds ``moxn.llm.cost.*`` attributes to LLM call spans (see the module docstring)."""

    name: ClassVar[str] = "cost"

    def __init__(self, **options: Any) -> None:
        opts = parse_options(self.name, CostOptions, options)
        self.options = opts
        table = PriceTable.builtin() if opts.builtin_prices else PriceTable({})
        if opts.price_file:
            from_file = self._price_file(opts.price_file)
            table = table.merged(from_file)
            try:
                table.check_aliases()
            except ValueError as exc:
                raise PluginOptionError(
                    self.name, "price_file", f"{opts.price_file}: {exc}"
                ) from None
        if opts.prices or opts.aliases:
            table = table.merged(PriceTable(opts.prices, opts.aliases))
            try:
                table.check_aliases()
            except ValueError as exc:
                raise PluginOptionError(self.name, "aliases", str(exc)) from None
        self.table = table
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {"priced": 0, "unknown_model": 0, "no_usage": 0}
        self._unknown: dict[str, int] = {}

    def _price_file(self, path: str) -> PriceTable:
        from moxtrace.pipeline.config import read_config_file

        try:
            return PriceTable.from_mapping(read_config_file(path), path)
        except ValueError as exc:  # PluginConfigError included: it names the file
            raise PluginOptionError(self.name, "price_file", str(exc)) from None

    def process(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        """The spans, LLM calls with their cost attributes added."""
        counts = {"priced": 0, "unknown_model": 0, "no_usage": 0}
        unknown: list[str] = []
        out = [self._span(span, counts, unknown) for span in spans]
        with self._lock:
            for key, value in counts.items():
                self._counts[key] += value
            for model in unknown:
                if model in self._unknown or len(self._unknown) < _UNKNOWN_NAMES_KEPT:
                    self._unknown[model] = self._unknown.get(model, 0) + 1
        if unknown:
            _warn.warning(
                "unknown-model",
                "moxtrace cost: no price for model %r (add it with the price_file or prices "
                "option); its calls get no cost",
                unknown[0],
            )
        return out

    def cost_of(self, attributes: Mapping[str, Any]) -> Cost | None:
        """The cost of the LLM call these span attributes describe, or None."""
        return self._cost(attributes, None)

    def counts(self) -> dict[str, int]:
        """``priced``, ``unknown_model`` and ``no_usage`` span counts so far."""
        with self._lock:
            return dict(self._counts)

    def unknown_models(self) -> dict[str, int]:
        """Calls per model name that had no price (the first 100 names seen)."""
        with self._lock:
            return dict(self._unknown)

    def _span(self, span: ReadableSpan, counts: dict[str, int], unknown: list[str]) -> ReadableSpan:
        attrs = span.attributes
        if not attrs:
            return span
        cost = self._cost(attrs, (counts, unknown))
        if cost is None:
            return span
        counts["priced"] += 1
        return replace_span(span, attributes={**attrs, **cost.attributes()})

    def _cost(
        self,
        attrs: Mapping[str, Any],
        tally: tuple[dict[str, int], list[str]] | None,
    ) -> Cost | None:
        input_tokens = _number(attrs.get(semconv.GEN_AI_USAGE_INPUT_TOKENS))
        output_tokens = _number(attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS))
        models = [
            m
            for m in (
                attrs.get(semconv.GEN_AI_RESPONSE_MODEL),
                attrs.get(semconv.GEN_AI_REQUEST_MODEL),
            )
            if isinstance(m, str) and m
        ]
        if input_tokens is None and output_tokens is None:
            if tally is not None and models and semconv.GEN_AI_OPERATION_NAME in attrs:
                tally[0]["no_usage"] += 1
            return None
        if not models:
            return None
        for model in models:
            found = self.table.lookup(model)
            if found is not None:
                break
        else:
            if tally is not None:
                tally[0]["unknown_model"] += 1
                tally[1].append(models[0])
            return None
        entry, price = found
        return compute_cost(
            entry,
            price,
            input_tokens=input_tokens or 0,
            output_tokens=output_tokens or 0,
            cache_read_tokens=_number(attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)) or 0,
            cache_creation_tokens=_number(
                attrs.get(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
            )
            or 0,
            reasoning_tokens=_number(attrs.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)) or 0,
        )
