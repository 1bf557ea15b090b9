"""Execution: ask a backend, in waves, only what the undecided rules still need; build the verdict.

Each wave evaluates every rule whose requirements are settled; pending rules report the
subqueries they wait for, and the union is sent to the backend as one batch for the image.
Answers are cached by (image content hash, subquery), so re-checking an image, or two rule
sets sharing subqueries, costs nothing at the backend.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from typing import Any, Callable, Iterable, Iterator

from logicdsl import graph as g
from logicdsl.engine.backend import Backend
from logicdsl.engine.evaluator import Evaluator, Pending, Trace, Undecided
from logicdsl.engine.image import ImageError, ImageRef
from logicdsl.engine.planner import Plan, plan
from logicdsl.engine.subquery import Answer, Subquery, subquery_to_dict
from logicdsl.engine.verdict import Evidence, RuleOutcome, SubqueryEvidence, Timings, Verdict

MAX_WAVES = 64


class AnswerCache:
    """A bounded LRU of answers keyed by (image content hash, subquery)."""

    def __init__(self, max_entries: int = 100_000):
        self.max_entries = max_entries
        self._data: OrderedDict[tuple[str, Subquery], Answer] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, image_hash: str, q: Subquery) -> Answer | None:
        a = self._data.get((image_hash, q))
        if a is None:
            self.misses += 1
        else:
            self.hits += 1
            self._data.move_to_end((image_hash, q))
        return a

    def put(self, image_hash: str, q: Subquery, a: Answer) -> None:
        self._data[(image_hash, q)] = a
        if len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class Executor:
    """Checks images against a compiled query graph with one backend."""

    def __init__(self, graph: g.QueryGraph, backend: Backend, *, min_confidence: float = 0.0,
                 cache: AnswerCache | None = None):
        #: called after each checked image with (image, answers, verdict): overlays, logging, metrics
        self.hooks: list[Callable[[ImageRef, dict[Subquery, Answer], Verdict], None]] = []
        self.graph = graph
        self.backend = backend
        self.min_confidence = min_confidence
        self.cache = cache if cache is not None else AnswerCache()
        self.plan: Plan = plan(graph, backend.capabilities)
        # answers that depend on more than the pixels (the scene backend reads a sidecar file) are not cached
        self._cacheable = bool(getattr(backend, "cacheable", True))
        self._rules = {r.name: r for r in graph.rules}

    # ------------------------------------------------------------------ public
    def check(self, image: Any) -> Verdict:
        """Check one image (path, array, PIL image or ImageRef). Problems with the input give a
        verdict with ``status="error"`` and a one-line reason, never an exception."""
        t0 = time.perf_counter()
        # never str() an array: numpy formats the pixels (costly, and useless as a name)
        name = str(image) if isinstance(image, (str, os.PathLike)) else str(getattr(image, "name", "<image>"))
        try:
            ref = ImageRef.of(image)
            name = ref.name
            verdict = self._check(ref)
        except ImageError as e:
            verdict = Verdict.failed(name, self.graph.product, self.backend.name, str(e))
        verdict.timings.total_ms = (time.perf_counter() - t0) * 1000
        return verdict

    def check_many(self, images: Iterable[Any]) -> Iterator[Verdict]:
        for image in images:
            yield self.check(image)

    # ------------------------------------------------------------------ waves
    def _check(self, image: ImageRef) -> Verdict:
        if image.path is not None:
            image.size()  # fail early, with the image's own reason, on unreadable files
        image_hash = image.content_hash()
        answers: dict[Subquery, Answer] = {}
        evaluator = Evaluator(answers, self.min_confidence, tracing=False)  # evidence only where needed, below
        outcomes: dict[str, tuple[str, Any, Trace | None, list[str]]] = {}
        asked = waves = 0
        backend_s = 0.0
        t_eval = time.perf_counter()
        for _ in range(MAX_WAVES):
            needs: dict[Subquery, None] = {}
            for name in self.plan.order:
                if name in outcomes:
                    continue
                rule = self._rules[name]
                if any(dep not in outcomes for dep in rule.requires):
                    continue
                blocked = [dep for dep in rule.requires if outcomes[dep][0] != "pass"]
                if blocked:
                    outcomes[name] = ("skipped", None, None, blocked)
                    continue
                value, _ = evaluator.evaluate(self.plan.roots[name])
                if isinstance(value, Pending):
                    needs.update(dict.fromkeys(sorted(value.needs, key=_stable_key)))
                    continue
                status = "pass" if value is True else "fail" if value is False else "undecided"
                outcomes[name] = (status, value, None, [])
            if not needs:
                break
            batch = []
            for q in needs:
                cached = self.cache.get(image_hash, q) if self._cacheable else None
                if cached is not None:
                    answers[q] = cached
                else:
                    batch.append(q)
            if batch:
                waves += 1
                asked += len(batch)
                t_b = time.perf_counter()
                got = self._ask(image, batch)
                backend_s += time.perf_counter() - t_b
                for q, a in zip(batch, got):
                    answers[q] = a
                    if a.value is not None and self._cacheable:  # failures are not cached: a retry may succeed
                        self.cache.put(image_hash, q, a)
        else:  # pragma: no cover - MAX_WAVES is far above any real chain of requirements
            pass
        tracer = None  # the evidence of the rules that did not pass: evaluated again, with traces
        for name, (status, value, _, blocked) in outcomes.items():
            if status in ("fail", "undecided"):
                tracer = tracer or Evaluator(answers, self.min_confidence)
                outcomes[name] = (status, value, tracer.evaluate(self.plan.roots[name])[1], blocked)
        for name in self.plan.order:  # anything still open after the last wave
            outcomes.setdefault(name, ("undecided", Undecided("gave up after too many waves"), None, []))
        eval_s = time.perf_counter() - t_eval - backend_s
        verdict = self._verdict(image, outcomes, answers)
        verdict.subqueries_asked = asked
        verdict.waves = waves
        verdict.timings = Timings(backend_ms=backend_s * 1000, evaluate_ms=eval_s * 1000)
        for hook in self.hooks:
            hook(image, answers, verdict)
        return verdict

    def _ask(self, image: ImageRef, batch: list[Subquery]) -> list[Answer]:
        try:
            got = list(self.backend.answer(image, batch))
        except ImageError:
            raise
        except Exception as e:  # noqa: BLE001 - a backend bug must not take the batch down
            reason = f"{self.backend.name} backend failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            return [Answer.failed(reason) for _ in batch]
        if len(got) != len(batch):
            reason = f"{self.backend.name} backend returned {len(got)} answers for {len(batch)} subqueries"
            return [Answer.failed(reason) for _ in batch]
        return [a if isinstance(a, Answer) else Answer.failed("the backend returned something that is not an answer")
                for a in got]

    # ------------------------------------------------------------------ verdict
    def _verdict(self, image: ImageRef, outcomes, answers: dict[Subquery, Answer]) -> Verdict:
        violations, undecided, skipped, passed = [], [], [], []
        for r in self.graph.rules:  # file order
            status, value, trace, blocked = outcomes[r.name]
            base = dict(rule=r.name, status=status, category=r.category, message=r.message, line=r.line)
            if status == "pass":
                passed.append(r.name)
            elif status == "skipped":
                skipped.append(RuleOutcome(**base, skipped_because=blocked))
            else:
                ev = _evidence(trace, answers, value)
                (violations if status == "fail" else undecided).append(RuleOutcome(**base, evidence=ev))
        if violations:
            status, label = "anomaly", violations[0].rule
        elif undecided:
            status, label = "undecided", "undecided"
        else:
            status, label = "normal", "normal"
        return Verdict(image=image.name, product=self.graph.product, backend=self.backend.name, status=status,
                       label=label, violations=violations, undecided=undecided, skipped=skipped, passed=passed)


def _stable_key(q: Subquery) -> str:
    return repr(q)


def _evidence(trace: Trace | None, answers: dict[Subquery, Answer], value: Any) -> Evidence:
    ev = Evidence()
    if trace is None:
        return ev
    for q in trace.asks:
        a = answers.get(q)
        ev.subqueries.append(SubqueryEvidence(kind=q.kind, question=q.question(), subquery=subquery_to_dict(q),
                                              answer=a.to_dict() if a is not None else None))
    ev.values = dict(trace.lets)
    seen = set()
    for c in trace.checks:
        key = repr(c)
        if key not in seen:
            seen.add(key)
            ev.checks.append(c)
    if isinstance(value, Undecided):
        ev.reason = value.reason
    return ev
