"""The language front end in one call: bytes or text → parsed → checked :class:`Program`.

The parser (and with it lark) is imported on first use, so a caller that finds the compiled rules
in the cache (``logicdsl.rule_cache``) never pays for it.
"""

from __future__ import annotations

from pathlib import Path

from .diagnostics import Diagnostic, DiagnosticError, error
from .program import Program
from .record import record
from .source import MAX_FILE_BYTES, Source, Span


@record(frozen=False)
class FrontendResult:
    source: Source
    program: Program | None  # None when the file could not be parsed
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.program is not None and not any(d.is_error for d in self.diagnostics)


def check_source(data: bytes | str, name: str = "<input>") -> FrontendResult:
    from . import parser
    from .checker import check

    if isinstance(data, str):
        source, diags = Source(data.removeprefix("\ufeff"), name), []
        if len(data) > MAX_FILE_BYTES:
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


def read_rule_file(path: str | Path) -> bytes:
    """A rule file's bytes. A missing or unreadable file raises :class:`FileNotFoundError` with a
    one-line reason; a file over the size limit raises :class:`DiagnosticError` (E004) unread."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DiagnosticError(Source("", str(path)), [error(
                "E004", f"file is {size:,} bytes, over the limit of {MAX_FILE_BYTES:,}", Span.point(0, 1, 1))])
        return path.read_bytes()
    except IsADirectoryError:
        raise FileNotFoundError(f"{path}: is a directory, not a rule file") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such rule file") from None
    except PermissionError:
        raise FileNotFoundError(f"{path}: permission denied") from None


def check_file(path: str | Path) -> FrontendResult:
    try:
        data = read_rule_file(path)
    except DiagnosticError as e:
        return FrontendResult(e.source, None, e.diagnostics)
    return check_source(data, str(path))


def checked_program(data: bytes | str, name: str = "<input>") -> Program:
    """Parse and check a rule file's bytes (or text); raise :class:`DiagnosticError` when it has errors."""
    result = check_source(data, name)
    if not result.ok:
        raise DiagnosticError(result.source, result.diagnostics or [error("E001", "cannot parse", None)])
    assert result.program is not None
    return result.program
