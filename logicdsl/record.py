"""Record classes: a lean stand-in for ``@dataclass`` for the many small value types on the check path.

Why not dataclasses: ``@dataclass(frozen=True)`` compiles five or six methods per class with
``exec`` (about 1.2 ms a class). The syntax tree, the query graph, the subqueries and the checker's
types are some 90 classes, so the decorator alone cost ~0.1 s of every `logicdsl check` start-up.
Here one ``__init__`` is compiled per distinct signature and shared by every class with that
signature; equality, hashing, repr and immutability are ordinary shared functions. Defining a
record costs ~25 µs, and making an instance costs the same as with a dataclass.

Supported, because the project uses it: defaults, ``field(default_factory=…, compare=False,
repr=False)``, fields inherited from record bases, ``frozen``, ``eq=False`` (keep the base class's
equality), :func:`fields`, :func:`replace`, :func:`is_record`, pickling and copying,
``__match_args__``.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING"})()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    """One field of a record, as :func:`fields` returns it."""

    __slots__ = ("name", "default", "default_factory", "compare", "repr")

    def __init__(self, default: Any = _MISSING, default_factory: Callable[[], Any] | Any = _MISSING,
                 compare: bool = True, repr: bool = True):
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.repr = repr

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING or self.default_factory is not _MISSING

    def __repr__(self) -> str:
        return f"Field({self.name!r})"


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | Any = _MISSING,
          compare: bool = True, repr: bool = True) -> Any:
    """Options for one field, as in :func:`dataclasses.field`."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("give a default or a default_factory, not both")
    return Field(default, default_factory, compare, repr)


def fields(obj_or_cls: Any) -> tuple[Field, ...]:
    try:
        return obj_or_cls.__record_fields__
    except AttributeError:
        raise TypeError(f"{obj_or_cls!r} is not a record") from None


def is_record(obj: Any) -> bool:
    return hasattr(type(obj) if not isinstance(obj, type) else obj, "__record_fields__")


def replace(obj: T, **changes: Any) -> T:
    """A copy of ``obj`` with some fields changed (the class's ``__init__`` runs again)."""
    values = {f.name: getattr(obj, f.name) for f in obj.__record_fields__}  # type: ignore[attr-defined]
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(obj)(**values)


# ------------------------------------------------------------------ the shared methods

def _frozen_setattr(self, name, value):
    raise FrozenInstanceError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def _frozen_delattr(self, name):
    raise FrozenInstanceError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return self.__record_key__(self) == other.__record_key__(other)


def _hash(self):
    return hash(self.__record_key__(self))


def _repr(self):
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__record_fields__ if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _no_fields(self) -> tuple:
    return ()


_INIT_CODE: dict[tuple[tuple[tuple[str, str], ...], bool], Any] = {}


def _init_code(signature: tuple[tuple[str, str], ...], via_dict: bool):
    """Compile (once per signature) a module whose ``__init__`` sets each field; defaults are
    looked up by name in the globals each class executes it with. ``via_dict`` writes the
    instance ``__dict__`` directly (a frozen class's ``__setattr__`` refuses; it is also faster)."""
    code = _INIT_CODE.get((signature, via_dict))
    if code is None:
        params, body = ["self"], ["    d = self.__dict__"] if via_dict else []
        for name, kind in signature:
            if kind == "required":
                params.append(name)
            elif kind == "default":
                params.append(f"{name}=_d_{name}")
            else:  # a default factory
                params.append(f"{name}=_MISSING")
                body.append(f"    if {name} is _MISSING: {name} = _f_{name}()")
            body.append(f"    d[{name!r}] = {name}" if via_dict else f"    _set(self, {name!r}, {name})")
        src = f"def __init__({', '.join(params)}):\n" + "\n".join(body or ["    pass"]) + "\n"
        code = compile(src, "<record __init__>", "exec")
        _INIT_CODE[(signature, via_dict)] = code
    return code


def record(cls: type[T] | None = None, /, *, frozen: bool = True, eq: bool = True) -> Any:
    """Class decorator: the annotated class attributes become fields, in order (bases first)."""

    def wrap(cls: type[T]) -> type[T]:
        return _make(cls, frozen, eq)

    return wrap if cls is None else wrap(cls)


def _make(cls: type[T], frozen: bool, eq: bool) -> type[T]:
    own: dict[str, Field] = {}
    for name in cls.__dict__.get("__annotations__", {}):
        value = cls.__dict__.get(name, _MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name = name
        own[name] = f
        if isinstance(value, Field):  # the class attribute becomes the plain default, or goes
            if f.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
    inherited: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get("__record_fields__", ()):
            inherited[f.name] = f
    all_fields = {**inherited, **own}
    signature, namespace, seen_default = [], {"_set": object.__setattr__, "_MISSING": _MISSING}, False
    for f in all_fields.values():
        if f.default_factory is not _MISSING:
            signature.append((f.name, "factory"))
            namespace[f"_f_{f.name}"] = f.default_factory
        elif f.default is not _MISSING:
            signature.append((f.name, "default"))
            namespace[f"_d_{f.name}"] = f.default
        else:
            if seen_default:
                raise TypeError(f"{cls.__name__}: field {f.name!r} without a default follows one with a default")
            signature.append((f.name, "required"))
            continue
        seen_default = True
    # instances have a __dict__ unless a class on the way declares non-empty __slots__
    via_dict = not any(getattr(c, "__slots__", None) for c in cls.__mro__[:-1])
    exec(_init_code(tuple(signature), via_dict), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[misc]
    cls.__record_fields__ = tuple(all_fields.values())  # type: ignore[attr-defined]
    cls.__match_args__ = tuple(all_fields)  # type: ignore[attr-defined]
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = _repr  # type: ignore[assignment]
    if eq:
        compared = [f.name for f in all_fields.values() if f.compare]
        if not compared:
            key = _no_fields
        elif len(compared) == 1:
            key = attrgetter(compared[0])
            key = (lambda g: lambda self: (g(self),))(key)
        else:
            key = attrgetter(*compared)
        cls.__record_key__ = staticmethod(key)  # type: ignore[attr-defined]
        cls.__eq__ = _eq  # type: ignore[assignment]
        cls.__hash__ = _hash if frozen else None  # type: ignore[assignment]
    if frozen:
        cls.__setattr__ = _frozen_setattr  # type: ignore[assignment]
        cls.__delattr__ = _frozen_delattr  # type: ignore[assignment]
    return cls
