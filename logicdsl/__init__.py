"""logicdsl: check product images against logical rules, and name the rule that broke, with the evidence.

    import logicdsl
    rules = logicdsl.load("examples/juice_bottle/juice_bottle.logic")
    engine = logicdsl.Engine(rules, backend="scene")
    verdict = engine.check("examples/juice_bottle/images/000.png")

The names below are imported on first use (PEP 562), so ``import logicdsl.parser`` or the command
line does not pay for the whole library.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "Engine": "api", "Rules": "api", "load": "api", "loads": "api",
    "Diagnostic": "diagnostics", "DiagnosticError": "diagnostics",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'logicdsl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
