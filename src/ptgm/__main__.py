"""`python -m ptgm ...` is the `ptgm` command."""

import sys

from ptgm.cli import main

sys.exit(main())
