"""Query graphs as text, JSON (networkx node-link), Graphviz dot or Mermaid, for `compile --graph`."""

from __future__ import annotations

import json

from .graph import Ask, QueryGraph, describe_node


def render_graph(graph: QueryGraph, form: str) -> str:
    g = graph.to_networkx()
    if form == "json":
        import networkx as nx

        data = nx.node_link_data(g, edges="edges")
        data["leaves"] = len(graph.leaves())
        return json.dumps(data, indent=2, default=str)
    if form == "dot":
        lines = [f'digraph "{graph.product}" {{', "  rankdir=LR;", "  node [fontsize=10];"]
        for nid, attrs in g.nodes(data=True):
            shape = "box" if attrs["kind"] == "Rule" else "ellipse" if attrs.get("leaf") else "plain"
            style = ', style=filled, fillcolor="#dbeafe"' if attrs.get("leaf") else ""
            lines.append(f'  "{nid}" [label={json.dumps(_short(attrs["label"]))}, shape={shape}{style}];')
        for a, b, attrs in g.edges(data=True):
            lines.append(f'  "{a}" -> "{b}"' + (' [style=dashed, label="requires"]' if attrs.get("requires") else "")
                         + ";")
        lines.append("}")
        return "\n".join(lines)
    if form == "mermaid":
        ids = {nid: f"N{i}" for i, nid in enumerate(g.nodes)}
        lines = ["flowchart LR"]
        for nid, attrs in g.nodes(data=True):
            label = _short(attrs["label"]).replace('"', "'")
            if attrs["kind"] == "Rule":
                lines.append(f'  {ids[nid]}["rule {label}"]')
            elif attrs.get("leaf"):
                lines.append(f'  {ids[nid]}(["{label}"])')
            else:
                lines.append(f'  {ids[nid]}["{label}"]')
        for a, b, attrs in g.edges(data=True):
            lines.append(f"  {ids[a]} -.->|requires| {ids[b]}" if attrs.get("requires") else f"  {ids[a]} --> {ids[b]}")
        return "\n".join(lines)
    return _text(graph)


def _short(label: str, n: int = 60) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _text(graph: QueryGraph) -> str:
    """One block per rule; a node seen before is shown as a reference (`↺ #3`) — the sharing made visible."""
    out = [f"product {graph.product}: {len(graph.rules)} rules, {len(graph.nodes())} nodes, "
           f"{len(graph.leaves())} distinct subqueries"]
    ids: dict[int, int] = {}

    def visit(n, depth: int) -> None:
        pad = "  " * depth
        if id(n) in ids:
            out.append(f"{pad}↺ #{ids[id(n)]} {_short(describe_node(n), 50)}")
            return
        ids[id(n)] = len(ids)
        kind = type(n).__name__
        mark = "? " if isinstance(n, Ask) else ""
        out.append(f"{pad}#{ids[id(n)]} {kind}: {mark}{_short(describe_node(n), 90)}")
        for c in n.children():
            visit(c, depth + 1)

    for r in graph.rules:
        req = f" requires {', '.join(r.requires)}" if r.requires else ""
        out.append(f"rule {r.name}{req}")
        visit(r.root, 1)
    return "\n".join(out)
