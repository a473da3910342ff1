"""`python -m igan_basicsr.infer ...`, the same as `basicsr infer ...`."""
import sys

from .command import main

sys.exit(main())
