"""Evaluation metrics, against hand-computed expectations."""

from __future__ import annotations

import pytest

from logicdsl.evaluate import Record, compute_metrics

RULES = ["a", "b", "c"]


def rec(truth, status, predicted=None, violations=None):
    if violations is None:
        violations = [] if status != "anomaly" else [predicted]
    return Record(image="x.png", truth=list(truth), status=status, predicted=predicted, predicted_violations=violations)


def test_perfect():
    rs = [rec([], "normal", "normal"), rec(["a"], "anomaly", "a"), rec(["b"], "anomaly", "b")]
    m = compute_metrics(rs, RULES)
    assert m["lac_accuracy"] == 1.0 and m["exact_set_accuracy"] == 1.0 and m["macro_f1"] == 1.0
    assert m["macro_f1_classes"] == ["normal", "a", "b"]  # c: no support, no predictions
    assert m["binary"] == {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 2, "fp": 0, "fn": 0, "tn": 1}


def test_hand_computed_mix():
    rs = [
        rec([], "normal", "normal"),            # right
        rec([], "anomaly", "a"),                # false alarm: true normal, predicted a
        rec(["a"], "anomaly", "a"),             # right
        rec(["a"], "anomaly", "b"),             # wrong rule
        rec(["b"], "normal", "normal"),         # missed
        rec(["b", "c"], "anomaly", "c", ["c"]),  # right (c is one of its rules), not exact
        rec(["c"], "undecided", "undecided", []),  # undecided: wrong
        rec(["a"], "error", None, []),          # error: wrong
    ]
    m = compute_metrics(rs, RULES)
    assert m["n"] == 8
    assert m["lac_accuracy"] == pytest.approx(3 / 8)
    assert m["exact_set_accuracy"] == pytest.approx(2 / 8)
    pc = m["per_class"]
    # effective truth: normal, normal, a, a, b, c, c, a ; predicted: normal, a, a, b, normal, c, undecided, error
    assert pc["normal"] == pytest.approx({"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2, "predicted": 2})
    assert pc["a"]["precision"] == pytest.approx(1 / 2) and pc["a"]["recall"] == pytest.approx(1 / 3)
    assert pc["a"]["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert pc["b"] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 1})
    assert pc["c"]["precision"] == 1.0 and pc["c"]["recall"] == pytest.approx(1 / 2)
    assert pc["c"]["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.4 + 0.0 + 2 / 3) / 4)
    b = m["binary"]
    assert (b["tp"], b["fp"], b["fn"], b["tn"]) == (3, 1, 3, 1)
    assert b["accuracy"] == pytest.approx(4 / 8)
    assert b["precision"] == pytest.approx(3 / 4) and b["recall"] == pytest.approx(3 / 6)
    assert b["f1"] == pytest.approx(0.6)
    assert m["undecided"] == 1 and m["undecided_rate"] == pytest.approx(1 / 8)
    assert m["errors"] == 1 and m["error_rate"] == pytest.approx(1 / 8)
    conf = m["confusion"]
    assert conf["rows"] == ["normal", "a", "b", "c"]
    assert conf["columns"] == ["normal", "a", "b", "c", "undecided", "error"]
    assert conf["matrix"] == [
        [1, 1, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 1],
        [1, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 0],
    ]
    assert sum(map(sum, conf["matrix"])) == 8


def test_unknown_predicted_label_gets_a_class():
    m = compute_metrics([rec(["a"], "anomaly", "zzz")], RULES)
    assert "zzz" in m["per_class"] and m["lac_accuracy"] == 0.0


def test_empty():
    m = compute_metrics([], RULES)
    assert m["n"] == 0 and m["lac_accuracy"] == 0.0 and m["macro_f1"] == 0.0
