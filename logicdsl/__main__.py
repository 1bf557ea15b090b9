import sys

from logicdsl.cli import entry

sys.exit(entry())
