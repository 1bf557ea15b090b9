"""Human-readable explanations of verdicts: a rich tree per image (rule → evidence)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from .verdict import RuleOutcome, Verdict

_STATUS_STYLE = {"normal": "bold green", "anomaly": "bold red", "undecided": "bold yellow", "error": "bold magenta"}
_MARK = {"normal": "✓", "anomaly": "✗", "undecided": "?", "error": "!"}


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict) and "undecided" in v:
        return f"undecided ({v['undecided']})"
    if isinstance(v, list) and v and isinstance(v[0], dict) and "box" in v[0]:
        return f"{len(v)} instance{'s' if len(v) != 1 else ''}"
    text = json.dumps(v) if not isinstance(v, str) else v
    return text if len(text) <= 80 else text[:77] + "…"


def _answer(a: dict[str, Any] | None) -> str:
    if a is None:
        return "not asked"
    if "error" in a:
        return f"[yellow]no answer[/] ({escape(a['error'])})"
    if "instances" in a and "value" not in a:
        n = len(a["instances"])
        return f"{n} instance{'s' if n != 1 else ''}"
    conf = f" (confidence {a['confidence']:.2f})" if a.get("confidence") not in (None, 1.0) else ""
    return f"{escape(_value(a.get('value')))}{conf}"


def _outcome_tree(parent: Tree, o: RuleOutcome, full: bool) -> None:
    style = {"fail": "red", "undecided": "yellow", "skipped": "dim", "pass": "green"}[o.status]
    cat = f" [{o.category}]" if o.category else ""
    msg = f" — {escape(o.message)}" if o.message else ""
    node = parent.add(f"[{style}]{o.status.upper()}[/] [bold]{o.rule}[/]{escape(cat)}{msg}")
    if o.skipped_because:
        node.add(f"[dim]skipped: requires {', '.join(o.skipped_because)}[/]")
    ev = o.evidence
    if ev is None:
        return
    if ev.reason:
        node.add(f"[yellow]why undecided:[/] {escape(ev.reason)}")
    for c in ev.checks[: (50 if full else 6)]:
        ops = ", ".join(f"{escape(op['expr'])} = {escape(_value(op['value']))}" for op in c.get("operands", []))
        where = ""
        if c.get("binding"):
            where = " with " + ", ".join(f"{k} = {escape(_value(v))}" for k, v in c["binding"].items())
        node.add(f"[{'red' if c['result'] == 'fail' else 'yellow'}]{escape(c['expr'])}[/] is {c['result']}"
                 f"{where}" + (f": {ops}" if ops else ""))
    for name, value in ev.values.items():
        node.add(f"let [cyan]{name}[/] = {escape(_value(value))}")
    if full or len(ev.subqueries) <= 4:
        for s in ev.subqueries:
            node.add(f"[dim]asked[/] {escape(s.question)} → {_answer(s.answer)}")
    else:
        node.add(f"[dim]{len(ev.subqueries)} subqueries used (--explain full lists them)[/]")


def verdict_tree(v: Verdict, explain: str = "fails") -> Tree:
    full = explain == "full"
    head = f"[{_STATUS_STYLE[v.status]}]{_MARK[v.status]} {v.status.upper()}[/] {escape(v.image)}"
    if v.status == "anomaly":
        head += f"  label: [bold]{v.label}[/]"
    tree = Tree(head)
    if v.error:
        tree.add(f"[magenta]{escape(v.error)}[/]")
        return tree
    for o in v.violations + v.undecided:
        _outcome_tree(tree, o, full)
    if full:
        for o in v.skipped:
            _outcome_tree(tree, o, full)
        if v.passed:
            tree.add(f"[green]passed:[/] {', '.join(v.passed)}")
    elif v.skipped:
        tree.add(f"[dim]skipped (requirements not met): {', '.join(o.rule for o in v.skipped)}[/]")
    tree.add(f"[dim]{v.subqueries_asked} subqueries in {v.waves} wave{'s' if v.waves != 1 else ''}, "
             f"{v.timings.total_ms:.1f} ms, backend {v.backend}[/]")
    return tree


def print_verdict(console: Console, v: Verdict, explain: str = "fails") -> None:
    console.print(verdict_tree(v, explain))
