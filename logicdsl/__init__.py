"""logicdsl: check product images against logical rules, and name the rule that broke, with the evidence."""

__version__ = "0.1.0"
