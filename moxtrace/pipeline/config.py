"""The plugin chain from a configuration file: ``load_plugins("plugins.yaml")``.

A configuration is a mapping with a ``plugins`` list, in YAML, TOML or JSON (chosen by
the file's suffix), or a mapping handed over directly. Each entry names a plugin and
gives its options; plugins run in the order listed::

    # plugins.yaml
    plugins:
      - name: genai_normalize
      - name: redact
        options:
          mask: "[REDACTED:{kind}]"
          patterns: {ticket_id: "TICKET-[0-9]{6}"}
      - name: cost
      - name: tail_sampling
        enabled: false          # checked, but not run
        options: {sample_rate: 0.1}

The same in TOML::

    [[plugins]]
    name = "redact"
    [plugins.options]
    mask = "[REDACTED:{kind}]"

An entry may also be just the plugin's name (``- cost``). ``name`` is an entry point of
the group ``moxtrace.collector_plugins`` (``collector_plugins`` registers ``redact``,
``cost``, ``tail_sampling`` and ``genai_normalize``; installed packages add theirs), or
an import path ``package.module:PluginClass``. Other top-level keys are left alone, so
a file may hold more than the plugin chain.

Every mistake is a ``PluginConfigError`` (a ``ValueError``) that names the file, the
entry (``plugins[1] (redact)``) and, for a bad option, the option::

    plugins.yaml: plugins[1] (redact): option 'mask': must contain '{kind}' at most ...

Plugins validate their own options with ``parse_options`` and a pydantic model, which
turns a validation failure into a ``PluginOptionError`` naming the option.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from moxtrace.pipeline.plugin import PLUGIN_ENTRY_POINT_GROUP, CollectorPlugin

__all__ = [
    "PluginConfigError",
    "PluginOptionError",
    "available_plugins",
    "load_plugins",
    "parse_options",
    "read_config_file",
    "resolve_plugin",
]

ModelT = TypeVar("ModelT", bound=BaseModel)
_ENTRY_KEYS = frozenset({"name", "options", "enabled"})


class PluginOptionError(ValueError):
    """A plugin option with a bad value (or an unknown option); ``option`` names it.

    ``option`` is dotted for nested values (``patterns.ticket_id``).
    """

    def __init__(self, plugin: str, option: str, message: str) -> None:
        self.plugin = plugin
        self.option = option
        self.reason = message
        super().__init__(f"plugin {plugin!r}: option {option!r}: {message}")


class PluginConfigError(ValueError):
    """A configuration the plugin chain cannot be built from.

    ``source`` is the file (or ``<mapping>``), ``plugin`` the entry's name and
    ``option`` the offending option, where they are known.
    """

    def __init__(
        self,
        source: str,
        message: str,
        *,
        entry: int | None = None,
        plugin: str | None = None,
        option: str | None = None,
    ) -> None:
        self.source = source
        self.entry = entry
        self.plugin = plugin
        self.option = option
        where = source
        if entry is not None:
            where += f": plugins[{entry}]"
            if plugin:
                where += f" ({plugin})"
        super().__init__(f"{where}: {message}")


def parse_options(plugin: str, model: type[ModelT], options: Mapping[str, Any]) -> ModelT:
    """``options`` validated into ``model``; ``PluginOptionError`` naming the first bad one.

    Give the model ``model_config = ConfigDict(extra="forbid")`` so that a misspelt
    option is an error rather than silently ignored::

        class Options(BaseModel):
            model_config = ConfigDict(extra="forbid")
            sample_rate: float = Field(0.1, ge=0, le=1)

        opts = parse_options("my_plugin", Options, {"sample_rate": 2})
        # PluginOptionError: plugin 'my_plugin': option 'sample_rate': Input should be ...
    """
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        error = exc.errors()[0]
        option = ".".join(str(part) for part in error["loc"]) or "<options>"
        message = str(error["msg"])
        if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
            known = ", ".join(sorted(model.model_fields))
            message = f"unknown option (known: {known or 'none'})"
        elif error["type"] == "extra_forbidden":
            message = "unknown key (extra keys are not allowed here)"
        raise PluginOptionError(plugin, option, message) from None


def available_plugins() -> dict[str, EntryPoint]:
    """The plugins installed in the entry-point group ``moxtrace.collector_plugins``."""
    return {ep.name: ep for ep in entry_points(group=PLUGIN_ENTRY_POINT_GROUP)}


def resolve_plugin(name: str) -> type[CollectorPlugin]:
    """The plugin class for an entry-point ``name`` or an import path ``module:Class``.

    Raises ``LookupError`` saying what is installed, ``ImportError`` if the plugin's
    module does not import, ``TypeError`` if the object is not a ``CollectorPlugin``.
    """
    if ":" in name:
        module_name, _, attr = name.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    else:
        plugins = available_plugins()
        if name not in plugins:
            known = ", ".join(sorted(plugins)) or "none"
            raise LookupError(
                f"no plugin {name!r} in entry-point group {PLUGIN_ENTRY_POINT_GROUP!r} "
                f"(installed: {known}); or give an import path 'package.module:Class'"
            )
        obj = plugins[name].load()
    if not (isinstance(obj, type) and issubclass(obj, CollectorPlugin)):
        raise TypeError(f"{name!r} is {obj!r}, not a CollectorPlugin subclass")
    return obj


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A YAML (``.yaml``/``.yml``), TOML (``.toml``) or JSON (``.json``) file's mapping.

    ``PluginConfigError`` naming the file if it cannot be read or parsed, or does not
    hold a mapping. YAML needs PyYAML (``pip install 'moxtrace[server]'``).
    """
    file = Path(path)
    source = str(path)
    suffix = file.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml", ".json"):
        raise PluginConfigError(
            source, f"unknown configuration format {suffix!r}: use .yaml, .yml, .toml or .json"
        )
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PluginConfigError(source, f"cannot read: {exc.strerror or exc}") from None
    try:
        if suffix == ".toml":
            data: Any = _toml().loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            data = _yaml().safe_load(text)
    except ImportError as exc:
        raise PluginConfigError(source, str(exc)) from None
    except Exception as exc:  # each parser has its own error class; all mean "bad syntax"
        raise PluginConfigError(source, f"cannot parse: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PluginConfigError(source, f"expected a mapping at the top, got {_kind(data)}")
    return data


def load_plugins(
    config: str | os.PathLike[str] | Mapping[str, Any],
) -> list[CollectorPlugin]:
    """The plugins of a configuration file or mapping, constructed, in order.

    >>> [p.name for p in load_plugins({"plugins": ["genai_normalize", "cost"]})]
    ['genai_normalize', 'cost']

    Raises ``PluginConfigError`` naming the file, entry and option at fault.
    """
    if isinstance(config, Mapping):
        source = "<mapping>"
        data: Mapping[str, Any] = config
    else:
        source = str(config)
        data = read_config_file(config)
    if "plugins" not in data:
        raise PluginConfigError(source, "no 'plugins' list")
    entries = data["plugins"]
    if entries is None:
        return []
    if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
        raise PluginConfigError(source, f"'plugins' must be a list, got {_kind(entries)}")
    plugins: list[CollectorPlugin] = []
    for index, entry in enumerate(entries):
        plugin = _build(source, index, entry)
        if plugin is not None:
            plugins.append(plugin)
    return plugins


def _build(source: str, index: int, entry: Any) -> CollectorPlugin | None:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping):
        raise PluginConfigError(
            source, f"expected a plugin name or a mapping, got {_kind(entry)}", entry=index
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise PluginConfigError(source, "'name' is missing or not a string", entry=index)
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise PluginConfigError(
            source,
            f"unknown key(s) {', '.join(map(repr, unknown))} (an entry has name, options, "
            "enabled; plugin settings go under 'options')",
            entry=index,
            plugin=name,
            option=unknown[0],
        )
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise PluginConfigError(
            source, "'enabled' must be true or false", entry=index, plugin=name, option="enabled"
        )
    options = entry.get("options") or {}
    if not isinstance(options, Mapping):
        raise PluginConfigError(
            source,
            f"'options' must be a mapping, got {_kind(options)}",
            entry=index,
            plugin=name,
            option="options",
        )
    bad_keys = [key for key in options if not isinstance(key, str)]
    if bad_keys:
        raise PluginConfigError(
            source, f"option names must be strings: {bad_keys[0]!r}", entry=index, plugin=name
        )
    try:
        cls = resolve_plugin(name)
    except (LookupError, ImportError, AttributeError, TypeError) as exc:
        raise PluginConfigError(source, str(exc), entry=index, plugin=name) from None
    try:
        plugin = cls(**options)
    except PluginOptionError as exc:
        raise PluginConfigError(
            source,
            f"option {exc.option!r}: {exc.reason}",
            entry=index,
            plugin=name,
            option=exc.option,
        ) from None
    except (ValueError, TypeError) as exc:
        raise PluginConfigError(
            source, str(exc), entry=index, plugin=name, option=getattr(exc, "option", None)
        ) from None
    if not enabled:  # built all the same, so that a disabled entry's options are checked
        plugin.shutdown()
        return None
    return plugin


def _kind(value: Any) -> str:
    return type(value).__name__


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        return importlib.import_module("tomli")
    except ImportError:
        raise ImportError(
            "reading TOML on Python 3.10 needs tomli: pip install 'moxtrace[server]'"
        ) from None


def _yaml() -> Any:
    try:
        return importlib.import_module("yaml")
    except ImportError:
        raise ImportError("reading YAML needs PyYAML: pip install 'moxtrace[server]'") from None
