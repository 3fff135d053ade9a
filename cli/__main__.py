"""`python -m cli ...`: the same as the `lora-pipeline` console script."""

import sys

from cli import main

sys.exit(main())
