"""Source text and spans: where a diagnostic points, and the caret snippet under it."""

from __future__ import annotations

from functools import cached_property

from .record import record

#: rule files larger than this are refused (E004) before they are parsed
MAX_FILE_BYTES = 1_000_000


@record
class Span:
    """A region of one source file: 1-based line/column, 0-based character offsets."""

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def point(offset: int, line: int, column: int) -> "Span":
        return Span(offset, offset + 1, line, column, line, column + 1)


@record
class Source:
    """One source file's text and the name it is shown by."""

    text: str
    name: str = "<input>"

    @cached_property
    def _line_starts(self) -> list[int]:
        starts = [0]
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
        return starts

    def line_text(self, line: int) -> str:
        starts = self._line_starts
        if line < 1 or line > len(starts):
            return ""
        begin = starts[line - 1]
        end = starts[line] - 1 if line < len(starts) else len(self.text)
        return self.text[begin:end].rstrip("\r")

    def span_at(self, offset: int) -> Span:
        """The one-character span at ``offset`` (clamped to the text)."""
        import bisect

        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset)
        column = offset - self._line_starts[line - 1] + 1
        return Span.point(offset, line, column)

    def end_span(self) -> Span:
        return self.span_at(len(self.text))
