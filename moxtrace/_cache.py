"""``CommitCache``: prompts and tasks read by commit, kept for good in a bounded LRU.

A commit never changes, so what was read at a commit is kept until it is the least recently
used entry of a full cache. The cache holds its own instances and hands out copies
(``fresh_copy``): a caller that edits what it got cannot change what the next caller gets.

``fresh_copy`` is a deep copy specialised for pydantic models: a model's field values are
copied only when they can be changed in place (lists, dicts, sets, mutable models); strings,
numbers, UUIDs, enums, datetimes and frozen models made only of such values are shared. For
a typical prompt this is several times cheaper than ``model_copy(deep=True)``.

``CommitCache`` goes one step further. What it holds never changes, so on an entry's first
read it compiles a copier for that one value (``compile_copier``): a function whose body rebuilds
the value's mutable parts as list, dict and model displays around references to its
immutable leaves, with no type test or loop left to run. A cached read of a typical prompt
is then about twice as fast as ``fresh_copy``. Values too large or too deep to unroll
(``_MAX_NODES``, ``_MAX_DEPTH``) fall back to ``fresh_copy`` for the part that is too deep.
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

__all__ = ["CommitCache", "compile_copier", "fresh_copy"]

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
    ]
    # A model that takes no extra fields and declares no private attributes has None in
    # both slots: the copy says so without reading them.
    if cls.model_config.get("extra") == "allow":
        lines += [
            "    extra = model.__pydantic_extra__",
            "    set_extra(clone, None if extra is None else copy_dict(extra))",
        ]
    else:
        lines += ["    set_extra(clone, None)"]
    if cls.__private_attributes__:
        lines += [
            "    private = model.__pydantic_private__",
            "    set_private(clone, None if private is None else copy_dict(private))",
        ]
    else:
        lines += ["    set_private(clone, None)"]
    lines += ["    return clone"]
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


_MAX_NODES = 4096  # mutable nodes unrolled into one copier; a larger value uses fresh_copy
_MAX_DEPTH = 48  # nesting unrolled; deeper parts are copied by fresh_copy when read


class _TooLarge(Exception):
    pass


class _Unroller:
    """Writes the body of a copier for one value (see ``compile_copier``)."""

    def __init__(self) -> None:
        self.constants: list[Any] = []
        self.lines: list[str] = []
        self.nodes = 0
        self.models = 0

    def constant(self, value: Any) -> str:
        self.constants.append(value)
        return f"c{len(self.constants) - 1}"

    def expression(self, value: Any, depth: int) -> str:
        cls = value.__class__
        if cls in _SHARED:
            return self.constant(value)
        if cls not in _COPIERS:
            _copier_for(cls)  # classifies enums and frozen models as shared
            if cls in _SHARED:
                return self.constant(value)
        self.nodes += 1
        if self.nodes > _MAX_NODES:
            raise _TooLarge
        if depth > _MAX_DEPTH:
            return f"fresh_copy({self.constant(value)})"
        if cls is list:
            return "[" + "".join(f"{self.expression(v, depth + 1)}, " for v in value) + "]"
        if cls is tuple:
            return "(" + "".join(f"{self.expression(v, depth + 1)}, " for v in value) + ")"
        if cls is dict and all(k.__class__ in _SHARED for k in value):
            items = (
                f"{self.constant(k)}: {self.expression(v, depth + 1)}, " for k, v in value.items()
            )
            return "{" + "".join(items) + "}"
        if isinstance(value, BaseModel):
            return self.model(value, depth)
        return f"fresh_copy({self.constant(value)})"

    def model(self, value: BaseModel, depth: int) -> str:
        # Children first: their statements must run before this model's use them.
        fields = [
            (self.constant(name), self.expression(v, depth + 1))
            for name, v in value.__dict__.items()
            if v.__class__ not in _SHARED
        ]
        extra = value.__pydantic_extra__
        private = value.__pydantic_private__
        extra_expr = "None" if extra is None else self.expression(extra, depth + 1)
        private_expr = "None" if private is None else self.expression(private, depth + 1)
        me = f"m{self.models}"
        self.models += 1
        state = f"s{self.models - 1}"
        lines = self.lines
        lines.append(f"    {me} = new({self.constant(value.__class__)})")
        # A field whose value turned out to be immutable is already in the copied state.
        changed = [(name, expr) for name, expr in fields if not _is_constant(expr)]
        if changed:
            lines.append(f"    {state} = {self.constant(value.__dict__)}.copy()")
            lines.extend(f"    {state}[{name}] = {expr}" for name, expr in changed)
            lines.append(f"    set_dict({me}, {state})")
        else:
            lines.append(f"    set_dict({me}, {self.constant(value.__dict__)}.copy())")
        fields_set = self.constant(value.__pydantic_fields_set__)
        lines.append(f"    set_fields_set({me}, {fields_set}.copy())")
        lines.append(f"    set_extra({me}, {extra_expr})")
        lines.append(f"    set_private({me}, {private_expr})")
        return me


def _is_constant(expression: str) -> bool:
    return expression[0] == "c" and expression[1:].isdigit()


def compile_copier(value: T) -> Callable[[], T]:
    """A function returning a fresh copy of ``value`` each call, as ``fresh_copy(value)`` would.

    The function keeps references to ``value``'s parts: ``value`` must not change afterwards
    (``CommitCache`` holds a private copy that nobody else sees).

    >>> from moxtrace.types import Commit
    >>> original = Commit(id="c1", message="first")
    >>> copier = compile_copier(original)
    >>> copier() == original, copier() is original
    (True, False)
    """
    unroller = _Unroller()
    try:
        result = unroller.expression(value, 0)
    except _TooLarge:
        return lambda: fresh_copy(value)
    if _is_constant(result):  # immutable: every caller may share it
        return lambda: value
    source = "def copier():\n" + "\n".join(unroller.lines) + f"\n    return {result}\n"
    namespace: dict[str, Any] = {
        **_SLOT_SETTERS,
        **{f"c{i}": c for i, c in enumerate(unroller.constants)},
        "new": _new,
        "fresh_copy": fresh_copy,
    }
    exec(compile(source, "<moxtrace commit cache copier>", "exec"), namespace)
    copier: Callable[[], T] = namespace["copier"]
    return copier


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
        self._entries: OrderedDict[Hashable, Callable[[], T]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> T | None:
        """A fresh copy of the value under ``key``, or ``None``."""
        # OrderedDict operations are atomic under the GIL: no lock on the read path.
        entries = self._entries
        copier = entries.get(key)
        if copier is None:
            self.misses += 1
            return None
        try:  # noqa: SIM105 - contextlib.suppress costs more than the rest of a hit
            entries.move_to_end(key)
        except KeyError:  # evicted by another thread just now
            pass
        self.hits += 1
        return copier()

    def put(self, key: Hashable, value: T) -> None:
        """Keep a private copy of ``value`` under ``key``, evicting the least recently used."""
        if self.max_entries == 0:
            return
        private = fresh_copy(value)
        entries = self._entries

        def first_read() -> T:
            # Compiling costs a few hundred µs: paid on the first read, not on every put
            # (a task read at a commit puts each of its prompts, which may never be read).
            copier = compile_copier(private)
            with self._lock:
                if entries.get(key) is first_read:
                    entries[key] = copier
            return copier()

        with self._lock:
            entries[key] = first_read
            entries.move_to_end(key)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
