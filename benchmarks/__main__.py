"""``python -m benchmarks``: see :mod:`benchmarks.driver`."""

import sys

from benchmarks.driver import main

sys.exit(main())
