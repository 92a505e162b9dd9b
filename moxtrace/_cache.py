"""``CommitCache``: prompts and tasks read by commit, kept for good in a bounded LRU.

A commit never changes, so what was read at a commit is kept until it is the least recently
used entry of a full cache. The cache holds its own instances and hands out copies
(``fresh_copy``): a caller that edits what it got cannot change what the next caller gets.

``fresh_copy`` is a deep copy specialised for pydantic models: a model's field values are
copied only when they can be changed in place (lists, dicts, sets, mutable models); strings,
numbers, UUIDs, enums, datetimes and frozen models made only of such values are shared. For
a typical prompt this is several times cheaper than ``model_copy(deep=True)``.
"""

from __future__ import annotations

import enum
import threading
import types
import typing
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Generic, Literal, TypeVar, Union
from uuid import UUID

from pydantic import BaseModel

__all__ = ["CommitCache", "fresh_copy"]

T = TypeVar("T")

# Values of these types cannot change in place: a copy may share them.
_SHARED: set[type] = {
    str,
    bytes,
    int,
    float,
    bool,
    complex,
    type(None),
    UUID,
    datetime,
    date,
    time,
    timedelta,
    Decimal,
    frozenset,
}
_COPIERS: dict[type, Callable[[Any], Any]] = {}
_new = object.__new__


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    # Calling the slot's descriptor directly is ~3x cheaper than object.__setattr__.
    descriptor = BaseModel.__dict__.get(name)
    if descriptor is not None and hasattr(descriptor, "__set__"):
        setter: Callable[[Any, Any], None] = descriptor.__set__
        return setter
    return lambda obj, value: object.__setattr__(obj, name, value)


_SLOT_SETTERS = {
    "set_dict": _slot_setter("__dict__"),
    "set_fields_set": _slot_setter("__pydantic_fields_set__"),
    "set_extra": _slot_setter("__pydantic_extra__"),
    "set_private": _slot_setter("__pydantic_private__"),
}


def fresh_copy(value: T) -> T:
    """A deep copy of ``value`` that shares only what cannot be changed in place.

    >>> from moxtrace.types import Commit
    >>> original = Commit(id="c1", message="first")
    >>> copy = fresh_copy(original)
    >>> copy.message = "edited"
    >>> original.message
    'first'
    """
    cls = value.__class__
    if cls in _SHARED:
        return value
    copier = _COPIERS.get(cls)
    if copier is None:
        copier = _copier_for(cls)
    result: T = copier(value)
    return result


def _copy_list(value: list[Any]) -> list[Any]:
    shared = _SHARED
    copiers = _COPIERS
    return [
        v if v.__class__ in shared else (copiers.get(v.__class__) or _copier_for(v.__class__))(v)
        for v in value
    ]


def _copy_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    shared = _SHARED
    return {k: v if v.__class__ in shared else fresh_copy(v) for k, v in value.items()}


def _copier_for(cls: type) -> Callable[[Any], Any]:
    copier: Callable[[Any], Any]
    if issubclass(cls, enum.Enum | PurePath):
        _SHARED.add(cls)
        return _identity
    if issubclass(cls, list):
        copier = _copy_list
    elif issubclass(cls, dict):
        copier = _copy_dict
    elif issubclass(cls, tuple):
        copier = _copy_tuple
    elif issubclass(cls, set):
        copier = _copy_set
    elif issubclass(cls, BaseModel):
        if cls.model_config.get("frozen") and _only_immutable_fields(cls):
            _SHARED.add(cls)
            return _identity
        copier = _model_copier(cls)
    else:
        import copy

        copier = copy.deepcopy
    _COPIERS[cls] = copier
    return copier


def _identity(value: Any) -> Any:
    return value


def _copy_tuple(value: tuple[Any, ...]) -> tuple[Any, ...]:
    return value.__class__(fresh_copy(v) for v in value)


def _copy_set(value: set[Any]) -> set[Any]:
    return set(value)  # members are hashable, hence (almost always) immutable


def _model_copier(cls: type[BaseModel]) -> Callable[[Any], Any]:
    # Fields whose annotation admits only immutable values are shared without a look; the
    # others are copied by code unrolled for this class (as dataclasses builds __init__),
    # which keeps a cached read of a prompt within a few microseconds.
    mutable = [
        name
        for name, info in cls.model_fields.items()
        if not _immutable_annotation(info.annotation)
    ]
    lines = [
        "def copy_model(model):",
        "    clone = _new(cls)",
        "    state = model.__dict__.copy()",
    ]
    item = (
        "(x if x.__class__ in shared else (copiers.get(x.__class__) or copier_for(x.__class__))(x))"
    )
    for name in mutable:
        depth = _list_depth(cls.model_fields[name].annotation)
        lines += [f"    value = state.get({name!r})"]
        if depth == 1:  # list[T]: copied inline, no call per list
            lines += [
                "    if value.__class__ is list:",
                f"        state[{name!r}] = [{item} for x in value]",
                "    elif value.__class__ not in shared:",
            ]
        elif depth == 2:  # list[list[T]], e.g. a message's blocks
            lines += [
                "    if value.__class__ is list:",
                f"        state[{name!r}] = [[{item} for x in row] if row.__class__ is list"
                " else fresh_copy(row) for row in value]",
                "    elif value.__class__ not in shared:",
            ]
        else:
            lines += ["    if value.__class__ not in shared:"]
        lines += [
            "        copier = copiers.get(value.__class__) or copier_for(value.__class__)",
            f"        state[{name!r}] = copier(value)",
        ]
    lines += [
        "    set_dict(clone, state)",
        "    set_fields_set(clone, model.__pydantic_fields_set__.copy())",
        "    extra = model.__pydantic_extra__",
        "    set_extra(clone, None if extra is None else copy_dict(extra))",
        "    private = model.__pydantic_private__",
        "    set_private(clone, None if private is None else copy_dict(private))",
        "    return clone",
    ]
    namespace: dict[str, Any] = {
        **_SLOT_SETTERS,
        "_new": _new,
        "cls": cls,
        "shared": _SHARED,
        "copiers": _COPIERS,
        "copier_for": _copier_for,
        "copy_dict": _copy_dict,
        "fresh_copy": fresh_copy,
    }
    exec("\n".join(lines), namespace)
    copier: Callable[[Any], Any] = namespace["copy_model"]
    return copier


def _list_depth(tp: Any) -> int:
    """2 for ``list[list[...]]``, 1 for ``list[...]``, else 0 (optional or not)."""
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _list_depth(args[0]) if len(args) == 1 else 0
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return 2 if typing.get_origin(inner) is list else 1
    return 0


def _only_immutable_fields(cls: type[BaseModel]) -> bool:
    if cls.model_config.get("extra") == "allow":
        return False
    return all(_immutable_annotation(f.annotation) for f in cls.model_fields.values())


def _immutable_annotation(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return True
    if origin is Union or origin is types.UnionType:
        return all(_immutable_annotation(arg) for arg in typing.get_args(tp))
    if origin is typing.Annotated:
        return _immutable_annotation(typing.get_args(tp)[0])
    if origin is not None or not isinstance(tp, type):
        return False
    if tp in _SHARED or issubclass(tp, enum.Enum):
        return True
    if issubclass(tp, BaseModel):
        return bool(tp.model_config.get("frozen")) and _only_immutable_fields(tp)
    return False


class CommitCache(Generic[T]):
    """A thread-safe LRU of at most ``max_entries`` values; reads return fresh copies.

    ``hits`` and ``misses`` count lookups (approximately, when threads race).
    ``max_entries=0`` turns the cache off.

    >>> cache: CommitCache[str] = CommitCache(max_entries=2)
    >>> cache.put(("prompt", "p1", "c1"), "v1")
    >>> cache.get(("prompt", "p1", "c1"))
    'v1'
    """

    def __init__(self, max_entries: int = 1024) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be 0 (no cache) or more")
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> T | None:
        """A fresh copy of the value under ``key``, or ``None``."""
        # OrderedDict operations are atomic under the GIL: no lock on the read path.
        entries = self._entries
        value = entries.get(key)
        if value is None:
            self.misses += 1
            return None
        try:  # noqa: SIM105 - contextlib.suppress costs more than the rest of a hit
            entries.move_to_end(key)
        except KeyError:  # evicted by another thread just now
            pass
        self.hits += 1
        return fresh_copy(value)

    def put(self, key: Hashable, value: T) -> None:
        """Keep a private copy of ``value`` under ``key``, evicting the least recently used."""
        if self.max_entries == 0:
            return
        value = fresh_copy(value)
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
