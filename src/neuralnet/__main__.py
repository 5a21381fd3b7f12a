"""``python -m neuralnet`` is the ``neuralnet`` command."""

import sys

from .cli import main

sys.exit(main())
