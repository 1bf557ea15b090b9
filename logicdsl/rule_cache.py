"""A cache of checked and compiled rule files, in the spirit of Python's ``__pycache__``.

A station runs `logicdsl check` on the same rule file thousands of times. Parsing it means
importing lark, building the LALR parser and running the checker and compiler: about 0.1 s of
every start-up. Only files without errors are cached, so diagnostics are always fresh.

An entry is found by a hash of the rule file's bytes and name, the logicdsl version and a
fingerprint of the language code (the grammar and the front-end and compiler modules: their
size and modification time), so a changed file or a changed logicdsl never reads a stale entry.
Entries are pickles; they are read only from a directory owned by the current user and closed to
others (0700), and written there atomically. ``LOGICDSL_CACHE_DIR`` moves the cache;
``LOGICDSL_NO_CACHE=1`` turns it off. Every failure here falls back to compiling, silently.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Rules

#: bump when the pickled types change shape in a way the code fingerprint would not notice
FORMAT = 1
#: entries kept; the oldest are removed beyond this
MAX_ENTRIES = 256

#: what compiled rules depend on: the grammar, and the modules of the language and the compiler
_LANGUAGE_MODULES = ("logicdsl.record", "logicdsl.source", "logicdsl.diagnostics", "logicdsl.ast",
                     "logicdsl.parser", "logicdsl.program", "logicdsl.checker", "logicdsl.frontend",
                     "logicdsl.compiler", "logicdsl.graph", "logicdsl.api", "logicdsl.rule_cache",
                     "logicdsl.engine.subquery")


def enabled() -> bool:
    return os.environ.get("LOGICDSL_NO_CACHE", "") in ("", "0")


def cache_dir() -> Path:
    env = os.environ.get("LOGICDSL_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "logicdsl" / "rules"


def _language_files() -> list[str]:
    from importlib.util import find_spec

    files = [find_spec(m).origin or m for m in _LANGUAGE_MODULES]  # type: ignore[union-attr]
    grammar = find_spec("logicdsl.grammar")
    files += [os.path.join(d, "logicdsl.lark") for d in (grammar.submodule_search_locations or [])]  # type: ignore[union-attr]
    return files


@cache  # once per process: a miss asks for it twice (get, then put)
def _fingerprint() -> bytes:
    from . import __version__

    h = hashlib.blake2b(digest_size=16)
    h.update(f"{FORMAT}:{__version__}".encode())
    for f in _language_files():
        try:
            st = os.stat(f)
            h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(f"{f}:-".encode())
    return h.digest()


def _entry(path: Path, data: bytes) -> Path:
    h = hashlib.blake2b(_fingerprint(), digest_size=20)
    h.update(str(path).encode("utf-8", "surrogateescape"))
    h.update(b"\0")
    h.update(data)
    return cache_dir() / f"{h.hexdigest()}.pickle"


def _private(directory: Path) -> bool:
    """The directory is ours and nobody else can write into it (else an entry could be planted)."""
    try:
        st = directory.stat()
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False
    return not hasattr(os, "getuid") or st.st_uid == os.getuid()


def get(path: Path, data: bytes) -> Rules | None:
    """The compiled rules cached for this file content, or None."""
    if not enabled():
        return None
    entry = _entry(path, data)
    try:
        if not _private(entry.parent):
            return None
        st = entry.stat()
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            return None
        rules = pickle.loads(entry.read_bytes())
    except Exception:  # noqa: BLE001 - a missing, truncated or foreign entry is a miss
        return None
    from .api import Rules

    if not isinstance(rules, Rules):
        return None
    rules.path = path
    return rules


def put(path: Path, data: bytes, rules: Rules) -> None:
    """Store compiled rules (their graph compiled first); never raises."""
    if not enabled():
        return
    try:
        rules.graph  # noqa: B018 - compile now, so the entry holds the graph too
        entry = _entry(path, data)
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not _private(entry.parent):
            return
        blob = pickle.dumps(rules, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(entry.parent)
    except Exception:  # noqa: BLE001 - a read-only home or a full disk must not fail a check
        return


def _prune(directory: Path) -> None:
    entries = list(directory.glob("*.pickle"))
    if len(entries) <= MAX_ENTRIES:
        return
    entries.sort(key=lambda p: p.stat().st_mtime)
    for p in entries[: len(entries) - MAX_ENTRIES // 2]:
        p.unlink(missing_ok=True)
