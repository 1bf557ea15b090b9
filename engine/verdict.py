"""The verdict on one image: what the engine tells a user, a script or a line controller.

Versioned JSON schema (``schema_version``); documented in docs/verdict.md. Every failed or
undecided rule carries evidence: the subqueries it used with their answers, the let values it
read, and the checks (comparisons, single-instance accesses) that came out false or undecided.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

SCHEMA_VERSION = "1.0"

Status = Literal["normal", "anomaly", "undecided", "error"]
RuleStatus = Literal["pass", "fail", "undecided", "skipped"]


class SubqueryEvidence(BaseModel):
    kind: str
    question: str
    subquery: dict[str, Any]
    answer: dict[str, Any] | None = None


class Evidence(BaseModel):
    subqueries: list[SubqueryEvidence] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict, description="let values the rule read")
    checks: list[dict[str, Any]] = Field(default_factory=list,
                                         description="comparisons and accesses that came out false or undecided")
    reason: str | None = Field(default=None, description="why the rule is undecided")


class RuleOutcome(BaseModel):
    rule: str
    status: RuleStatus
    category: str | None = None
    message: str | None = None
    line: int | None = None
    evidence: Evidence | None = None
    skipped_because: list[str] = Field(default_factory=list,
                                       description="required rules that did not pass")


class Timings(BaseModel):
    total_ms: float = 0.0
    backend_ms: float = 0.0
    evaluate_ms: float = 0.0


class Verdict(BaseModel):
    schema_version: str = SCHEMA_VERSION
    image: str
    product: str
    backend: str
    status: Status
    label: str | None = Field(description="`normal`, the first failed rule in file order, or `undecided`")
    violations: list[RuleOutcome] = Field(default_factory=list)
    undecided: list[RuleOutcome] = Field(default_factory=list)
    skipped: list[RuleOutcome] = Field(default_factory=list)
    passed: list[str] = Field(default_factory=list)
    subqueries_asked: int = 0
    waves: int = 0
    timings: Timings = Field(default_factory=Timings)
    error: str | None = Field(default=None, description="why the image could not be checked")

    @property
    def violated_rules(self) -> list[str]:
        return [v.rule for v in self.violations]

    @classmethod
    def failed(cls, image: str, product: str, backend: str, reason: str) -> "Verdict":
        return cls(image=image, product=product, backend=backend, status="error", label=None, error=reason)


def exit_code(verdicts: list[Verdict]) -> int:
    """0 all normal, 1 any anomaly, 3 undecided and none anomalous, 2 an input error (and nothing worse)."""
    statuses = {v.status for v in verdicts}
    if "anomaly" in statuses:
        return 1
    if "undecided" in statuses:
        return 3
    if "error" in statuses:
        return 2
    return 0
