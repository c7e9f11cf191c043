"""`python -m monosem_lib run ...` (the command line itself: `monosem_lib.pipeline.cli`)."""
import sys

from .pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
