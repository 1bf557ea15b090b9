"""`logicdsl compile FILE`: check a rule file; print diagnostics (and, with --graph, the query graph)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compile", help="check a .logic file and show its diagnostics or query graph",
                       description="Check a rule file. Exit 0 when it has no errors, 2 otherwise.")
    p.add_argument("file", help="the .logic rule file")
    p.add_argument("--format", choices=("text", "json"), default="text", help="diagnostics for people or tools")
    p.add_argument("--graph", choices=("text", "json", "dot", "mermaid"),
                   help="also print the compiled query graph in this form")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from logicdsl.diagnostics import render_json, render_text
    from logicdsl.frontend import check_file

    try:
        result = check_file(args.file)
    except FileNotFoundError as e:
        print(f"logicdsl: error: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(render_json(result.source, result.diagnostics))
    elif result.diagnostics:
        print(render_text(result.source, result.diagnostics), file=sys.stderr)
    if not result.ok:
        if args.format == "text":
            n = sum(d.is_error for d in result.diagnostics)
            print(f"{result.source.name}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return 2
    if args.graph:
        from logicdsl.compiler import compile_program
        from logicdsl.graph_render import render_graph

        graph = compile_program(result.program)
        print(render_graph(graph, args.graph))
    elif args.format == "text":
        p = result.program
        print(f"{result.source.name}: ok — product `{p.name}`, {len(p.objects)} objects, {len(p.rules)} rules")
    return 0
