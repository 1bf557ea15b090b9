"""Evaluation: run checks over a labelled dataset and score them.

The metrics are pure functions over :class:`Record` (true violation set, predicted label, status), so
they are unit-testable without an engine:

- **LAC accuracy** (logical anomaly classification): an image is right when its predicted label is one
  of its true labels (``normal`` for a normal image; any of its violated rules when it has several).
- **exact-set accuracy**: the predicted set of violated rules equals the true set.
- **per-class precision/recall/F1** and **macro-F1** over ``{normal} ∪ rules``, single-label: an image's
  true class is its predicted label when that is one of its true labels, else its first true label.
  Classes with neither support nor predictions are left out of the macro average.
  ``undecided`` and ``error`` predictions are never right; they count as misses of the true class.
- **binary detection**: anomalous vs normal; a detection is ``status == "anomaly"``. Undecided and
  errored images are neither true negatives nor false positives, so they lower accuracy and recall.
- **undecided rate**, **error rate**, and the **confusion matrix** (true classes x predicted classes,
  plus ``undecided``/``error`` columns when they occur).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

NORMAL = "normal"
UNDECIDED = "undecided"
ERROR = "error"


@dataclass
class Record:
    """One checked image: the truth and what the engine said."""

    image: str
    truth: list[str]  # violated rules (empty: normal), in rule-file order
    status: str  # normal | anomaly | undecided | error
    predicted: str | None = None  # the verdict's label
    predicted_violations: list[str] = field(default_factory=list)
    defect_types: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def true_label(self) -> str:
        return self.truth[0] if self.truth else NORMAL

    @property
    def predicted_class(self) -> str:
        if self.status == ERROR:
            return ERROR
        if self.status == UNDECIDED:
            return UNDECIDED
        return self.predicted or (NORMAL if self.status == NORMAL else UNDECIDED)

    @property
    def correct(self) -> bool:
        """LAC: the predicted label is one of the true labels."""
        p = self.predicted_class
        if p in (UNDECIDED, ERROR):
            return False
        return p in (self.truth or [NORMAL])

    @property
    def effective_true(self) -> str:
        """The true class used for single-label metrics."""
        return self.predicted_class if self.correct else self.true_label

    @property
    def exact(self) -> bool:
        if self.status not in (NORMAL, "anomaly"):
            return False
        return set(self.predicted_violations) == set(self.truth)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(true_label=self.true_label, predicted_class=self.predicted_class, correct=self.correct,
                 exact=self.exact)
        return d


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def compute_metrics(records: Sequence[Record], rules: Sequence[str] = ()) -> dict[str, Any]:
    """All metrics as a JSON-ready dict. ``rules``: the rule names in file order (the class order)."""
    n = len(records)
    classes = [NORMAL] + [r for r in rules if r != NORMAL]
    for rec in records:  # labels the rule file does not know still get a row
        for c in (rec.effective_true, rec.predicted_class):
            if c not in classes and c not in (UNDECIDED, ERROR):
                classes.append(c)
    eff_true = [r.effective_true for r in records]
    pred = [r.predicted_class for r in records]

    per_class: dict[str, dict[str, float | int]] = {}
    for c in classes:
        tp = sum(1 for t, p in zip(eff_true, pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(eff_true, pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(eff_true, pred) if t == c and p != c)
        support = tp + fn
        predicted = tp + fp
        p_, r_, f_ = _prf(tp, fp, fn)
        per_class[c] = {"precision": p_, "recall": r_, "f1": f_, "support": support, "predicted": predicted}
    scored = [c for c in classes if per_class[c]["support"] or per_class[c]["predicted"]]
    macro_f1 = sum(per_class[c]["f1"] for c in scored) / len(scored) if scored else 0.0

    tp = sum(1 for r in records if r.truth and r.status == "anomaly")
    fp = sum(1 for r in records if not r.truth and r.status == "anomaly")
    fn = sum(1 for r in records if r.truth and r.status != "anomaly")
    tn = sum(1 for r in records if not r.truth and r.status == NORMAL)
    bp, br, bf = _prf(tp, fp, fn)

    rows = [c for c in classes if per_class[c]["support"]]
    cols = [c for c in classes if per_class[c]["support"] or per_class[c]["predicted"]]
    cols += [c for c in (UNDECIDED, ERROR) if c in pred]
    rows = rows or cols[:1]
    idx_r = {c: i for i, c in enumerate(rows)}
    idx_c = {c: i for i, c in enumerate(cols)}
    matrix = [[0] * len(cols) for _ in rows]
    for t, p in zip(eff_true, pred):
        if t in idx_r and p in idx_c:
            matrix[idx_r[t]][idx_c[p]] += 1

    n_undecided = sum(1 for r in records if r.status == UNDECIDED)
    n_error = sum(1 for r in records if r.status == ERROR)
    return {
        "n": n,
        "lac_accuracy": sum(r.correct for r in records) / n if n else 0.0,
        "exact_set_accuracy": sum(r.exact for r in records) / n if n else 0.0,
        "macro_f1": macro_f1,
        "macro_f1_classes": scored,
        "per_class": per_class,
        "binary": {"accuracy": (tp + tn) / n if n else 0.0, "precision": bp, "recall": br, "f1": bf,
                   "tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "undecided": n_undecided,
        "undecided_rate": n_undecided / n if n else 0.0,
        "errors": n_error,
        "error_rate": n_error / n if n else 0.0,
        "confusion": {"rows": rows, "columns": cols, "matrix": matrix},
    }


# -- running ---------------------------------------------------------------------------------------
@dataclass
class EvalSpec:
    """What a worker needs to build its engine (picklable)."""

    rules_path: str
    backend: str = "scene"
    backend_options: dict[str, Any] = field(default_factory=dict)
    min_confidence: float = 0.0


_ENGINE: Any = None
_SPEC: EvalSpec | None = None
_RULES: Any = None


def _engine(spec: EvalSpec):
    global _ENGINE, _SPEC, _RULES
    if _ENGINE is None or _SPEC != spec:
        import logicdsl

        _RULES = logicdsl.load(spec.rules_path)
        _ENGINE = logicdsl.Engine(_RULES, backend=make_backend(spec, _RULES), min_confidence=spec.min_confidence)
        _SPEC = spec
    return _ENGINE


def make_backend(spec: EvalSpec, rules: Any = None, scene: str | None = None):
    """The backend for ``spec`` (``scene`` can be pinned to one file for datasets whose scenes are not
    the images' sidecars)."""
    opts = {k: v for k, v in spec.backend_options.items() if v is not None}
    if scene is not None:
        opts["scene"] = scene
    try:
        from logicdsl.backends import make_backend as lead_make_backend
    except ImportError:  # pragma: no cover - before the backend registry existed
        lead_make_backend = None
    if lead_make_backend is not None:
        return lead_make_backend(spec.backend, rules_path=Path(spec.rules_path), **opts)
    if spec.backend not in ("scene", "auto"):  # pragma: no cover
        raise ValueError(f"backend `{spec.backend}` is not available in this build")
    from logicdsl.engine.scene import SceneBackend

    return SceneBackend(opts.get("scene"))


def engine_for(spec: EvalSpec, image: str, scene: str | None = None):
    """This process's engine for ``spec``; one of its own for a dataset whose scene for ``image`` is not
    the image's sidecar."""
    engine = _engine(spec)
    if scene is not None and spec.backend in ("scene", "auto") and Path(scene) != Path(image).with_suffix(".json"):
        import logicdsl

        engine = logicdsl.Engine(_RULES, backend=make_backend(spec, _RULES, scene=scene),
                                 min_confidence=spec.min_confidence)
    return engine


def check_item(spec: EvalSpec, image: str, truth: list[str], defect_types: list[str],
               scene: str | None = None) -> Record:
    """Check one image; never raises: a failure becomes an ``error`` record."""
    t0 = time.perf_counter()
    try:
        v = engine_for(spec, image, scene).check(image)
        status = v.status
        err = v.error
        if err and status not in ("normal", "anomaly", "undecided"):
            status = ERROR
        return Record(image=image, truth=truth, status=status, predicted=v.label,
                      predicted_violations=list(v.violated_rules), defect_types=defect_types, error=err,
                      seconds=time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - one bad image must not stop an evaluation
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return Record(image=image, truth=truth, status=ERROR, defect_types=defect_types, error=msg,
                      seconds=time.perf_counter() - t0)


def _check_task(args: tuple) -> Record:
    return check_item(*args)


def _fresh_engine() -> None:
    """Forget any engine (and its answer cache) left from an earlier run in this process: the cache is
    keyed by image content, and the same pixels may come with a different scene in another dataset."""
    global _ENGINE, _SPEC, _RULES
    _ENGINE = _SPEC = _RULES = None


def run_eval(items: Sequence[Any], spec: EvalSpec, *, jobs: int = 1,
             progress: Callable[[int], None] | None = None) -> tuple[list[Record], float]:
    """Check every dataset item (``.image``, ``.violations``, ``.defect_types``, ``.scene``); returns the
    records in dataset order and the wall time. ``jobs`` > 1 runs worker processes."""
    tasks = [(spec, str(it.image), list(it.violations), list(it.defect_types),
              str(it.scene) if getattr(it, "scene", None) else None) for it in items]
    t0 = time.perf_counter()
    records: list[Record] = []
    _fresh_engine()
    if jobs <= 1 or len(tasks) < 2:
        for t in tasks:
            records.append(_check_task(t))
            if progress:
                progress(1)
    else:
        from concurrent.futures import ProcessPoolExecutor

        chunk = max(1, min(8, len(tasks) // (jobs * 4)))
        with ProcessPoolExecutor(max_workers=jobs, initializer=_fresh_engine) as pool:
            for rec in pool.map(_check_task, tasks, chunksize=chunk):
                records.append(rec)
                if progress:
                    progress(1)
    return records, time.perf_counter() - t0


def default_jobs() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def summarize(metrics: dict[str, Any]) -> Iterable[tuple[str, str]]:
    yield "images", str(metrics["n"])
    yield "LAC accuracy", f"{metrics['lac_accuracy']:.3f}"
    yield "exact-set accuracy", f"{metrics['exact_set_accuracy']:.3f}"
    yield "macro-F1", f"{metrics['macro_f1']:.3f}"
    b = metrics["binary"]
    yield "detection accuracy / F1", f"{b['accuracy']:.3f} / {b['f1']:.3f}"
    yield "undecided rate", f"{metrics['undecided_rate']:.3f}"
    yield "errors", str(metrics["errors"])
