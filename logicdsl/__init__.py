"""logicdsl: check product images against logical rules, and name the rule that broke, with the evidence.

    import logicdsl
    rules = logicdsl.load("examples/juice_bottle/juice_bottle.logic")
    engine = logicdsl.Engine(rules, backend="scene")
    verdict = engine.check("examples/juice_bottle/images/000.png")
"""

__version__ = "0.1.0"

from .api import Engine, Rules, load, loads  # noqa: E402
from .diagnostics import Diagnostic, DiagnosticError  # noqa: E402

__all__ = ["Engine", "Rules", "load", "loads", "Diagnostic", "DiagnosticError", "__version__"]
