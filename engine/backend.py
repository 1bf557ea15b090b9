"""The perception backend protocol.

A backend answers a batch of subqueries about one image, one answer per subquery, in order.
It declares which subquery kinds it answers natively; the planner lowers the others
(count, presence, relations and measures from detections) before asking.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from .image import ImageRef
from .subquery import Answer, Subquery


class BackendError(Exception):
    """A backend cannot work at all (missing weights, bad profile, server down at start-up).

    Raised at construction or on first use; the CLI turns it into a one-line message and exit 2.
    Per-subquery problems are never raised: they come back as ``Answer.failed(reason)``.
    """


@runtime_checkable
class Backend(Protocol):
    #: a short name: ``scene``, ``vision``, ``vlm``, ``openai``
    name: str
    #: subquery kinds answered natively (a subset of ``subquery.SUBQUERY_KINDS``)
    capabilities: frozenset[str]
    #: optional (default True): False when answers depend on more than the image's pixels, so the
    #: engine must not cache them by image content (the scene backend reads them from a sidecar file)
    # cacheable: bool

    def answer(self, image: ImageRef, subqueries: Sequence[Subquery]) -> list[Answer]:
        """Answer every subquery about ``image``; never raise for a single bad answer."""
        ...
