"""The library face: load rules, build an engine, check images.

    import logicdsl
    rules = logicdsl.load("examples/juice_bottle/juice_bottle.logic")
    engine = logicdsl.Engine(rules, backend="vision")      # or a backend object
    verdict = engine.check("bottle.png")
    print(verdict.status, verdict.label, [v.rule for v in verdict.violations])
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostic
from .graph import QueryGraph
from .program import Program
from .record import record


@record(frozen=False)
class Rules:
    """A checked rule file and its compiled query graph."""

    program: Program
    path: Path | None = None

    @cached_property
    def graph(self) -> QueryGraph:
        from .compiler import compile_program

        return compile_program(self.program)

    @property
    def product(self) -> str:
        return self.program.name

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.program.rules]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.program.diagnostics if not d.is_error]


def load(path: str | Path, *, cache: bool = True) -> Rules:
    """Parse, check and compile a rule file; raise :class:`DiagnosticError` on errors, and
    :class:`FileNotFoundError` (with a one-line reason) when it cannot be read.

    Files without errors are kept compiled in the rule cache (``logicdsl.rule_cache``); a later
    load of the same bytes skips parsing. ``cache=False`` always compiles.
    """
    from . import rule_cache
    from .frontend import checked_program, read_rule_file

    path = Path(path)
    data = read_rule_file(path)
    if cache:
        hit = rule_cache.get(path, data)
        if hit is not None:
            return hit
    rules = Rules(checked_program(data, str(path)), path)
    if cache:
        rule_cache.put(path, data, rules)
    return rules


def loads(text: str, name: str = "<string>") -> Rules:
    from .frontend import checked_program

    return Rules(checked_program(text, name))


class Engine:
    """Checks images against rules with one perception backend.

    ``backend`` is a backend object or a name (``scene``, ``vision``, ``vlm``, ``openai``, ``auto``);
    names are resolved by :func:`logicdsl.backends.make_backend` with ``backend_options``.
    """

    def __init__(self, rules: Rules | str | Path, backend: Any = "auto", *, min_confidence: float = 0.0,
                 cache=None, **backend_options: Any):
        from logicdsl.backends import make_backend
        from logicdsl.engine.executor import Executor

        self.rules = rules if isinstance(rules, Rules) else load(rules)
        if isinstance(backend, str):
            backend = make_backend(backend, rules_path=self.rules.path, **backend_options)
        self.backend = backend
        self._executor = Executor(self.rules.graph, backend, min_confidence=min_confidence, cache=cache)

    @property
    def plan(self):
        return self._executor.plan

    @property
    def hooks(self):
        """Callables run after each image with (image, answers, verdict)."""
        return self._executor.hooks

    @property
    def cache(self):
        return self._executor.cache

    def check(self, image: Any):
        """Check one image (a path, an RGB array, a PIL image); returns a :class:`Verdict`."""
        return self._executor.check(image)

    def check_many(self, images):
        return self._executor.check_many(images)
