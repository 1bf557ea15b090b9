import sys

from logicdsl.cli import main

sys.exit(main())
