"""The language front end in one call: bytes or text → parsed → checked :class:`Program`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import parser
from .checker import check
from .diagnostics import Diagnostic, DiagnosticError, error
from .program import Program
from .source import Source, Span


@dataclass
class FrontendResult:
    source: Source
    program: Program | None  # None when the file could not be parsed
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.program is not None and not any(d.is_error for d in self.diagnostics)


def check_source(data: bytes | str, name: str = "<input>") -> FrontendResult:
    if isinstance(data, str):
        source, diags = Source(data.removeprefix("\ufeff"), name), []
        if len(data) > parser.MAX_FILE_BYTES:
            return FrontendResult(source, None, parser.parse(source).diagnostics)
    else:
        decoded, diags = parser.decode(data, name)
        if decoded is None:
            return FrontendResult(Source("", name), None, diags)
        source = decoded
    result = parser.parse(source)
    if result.module is None:
        return FrontendResult(source, None, result.diagnostics)
    program = check(result.module, source)
    return FrontendResult(source, program, program.diagnostics)


def check_file(path: str | Path) -> FrontendResult:
    path = Path(path)
    name = str(path)
    try:
        size = path.stat().st_size
        if size > parser.MAX_FILE_BYTES:
            return FrontendResult(Source("", name), None, [error(
                "E004", f"file is {size:,} bytes, over the limit of {parser.MAX_FILE_BYTES:,}", Span.point(0, 1, 1))])
        data = path.read_bytes()
    except IsADirectoryError:
        raise FileNotFoundError(f"{path}: is a directory, not a rule file") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such rule file") from None
    except PermissionError:
        raise FileNotFoundError(f"{path}: permission denied") from None
    return check_source(data, name)


def load_program(path: str | Path) -> Program:
    """Parse and check a rule file; raise :class:`DiagnosticError` when it has errors."""
    result = check_file(path)
    if not result.ok:
        raise DiagnosticError(result.source, result.diagnostics or [error("E001", "cannot parse", None)])
    assert result.program is not None
    return result.program
