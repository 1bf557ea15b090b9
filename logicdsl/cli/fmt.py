"""`logicdsl fmt FILE... [--check]`: rewrite rule files in the canonical layout (see logicdsl/fmt.py).

Exit codes: 0 every file is (now) formatted; 1 with --check, some file would change; 2 a file could not be
read or parsed (its diagnostics are printed; the other files are still formatted).
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fmt", help="rewrite .logic files in the canonical layout",
                       description="Format rule files in place (comments are kept). `-` reads standard input "
                                   "and prints the result. Exit 0 when all are formatted, 1 when --check finds "
                                   "a file that would change, 2 when a file cannot be read or parsed.")
    p.add_argument("files", nargs="+", metavar="FILE", help="the .logic files to format, or `-` for stdin")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="change nothing; list the files that would change and exit 1 if there are any")
    mode.add_argument("--stdout", action="store_true", help="print the formatted text instead of rewriting")
    mode.add_argument("--diff", action="store_true", help="print a unified diff instead of rewriting")
    p.set_defaults(func=run)


def _read(path: str) -> bytes:
    from pathlib import Path

    from logicdsl import parser

    if path == "-":
        return sys.stdin.buffer.read(parser.MAX_FILE_BYTES + 1)
    p = Path(path)
    if p.is_dir():
        raise OSError(f"{path}: is a directory, not a rule file")
    with p.open("rb") as f:
        return f.read(parser.MAX_FILE_BYTES + 1)  # decode() reports E004 past the limit


def run(args: argparse.Namespace) -> int:
    import difflib

    from logicdsl.diagnostics import DiagnosticError, render_text
    from logicdsl.fmt import format_source

    status = 0
    for path in args.files:
        name = "<stdin>" if path == "-" else path
        try:
            data = _read(path)
        except FileNotFoundError:
            print(f"logicdsl: error: {path}: no such rule file", file=sys.stderr)
            status = 2
            continue
        except OSError as e:
            print(f"logicdsl: error: {e.strerror + ': ' + path if e.strerror else e}", file=sys.stderr)
            status = 2
            continue
        try:
            formatted = format_source(data, name)
        except DiagnosticError as e:
            print(render_text(e.source, e.diagnostics), file=sys.stderr)
            status = 2
            continue
        except (RecursionError, MemoryError, ValueError) as e:  # defensive: never a traceback
            print(f"logicdsl: error: {name}: cannot format this file ({type(e).__name__})", file=sys.stderr)
            status = 2
            continue
        original = data.decode("utf-8")
        changed = formatted != original
        if args.check:
            if changed:
                print(f"would reformat {name}", file=sys.stderr)
                status = max(status, 1)
        elif args.diff:
            if changed:
                sys.stdout.writelines(difflib.unified_diff(original.splitlines(True), formatted.splitlines(True),
                                                           f"{name} (original)", f"{name} (formatted)"))
        elif args.stdout or path == "-":
            sys.stdout.write(formatted)
        elif changed:
            try:
                with open(path, "w", encoding="utf-8", newline="\n") as f:
                    f.write(formatted)
            except OSError as e:
                print(f"logicdsl: error: cannot write {path}: {e.strerror or e}", file=sys.stderr)
                status = 2
                continue
            print(f"reformatted {name}", file=sys.stderr)
    if args.check and status == 0:
        n = len(args.files)
        print(f"{n} file{'s' if n != 1 else ''} already formatted", file=sys.stderr)
    return status
