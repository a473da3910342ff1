"""IGAN (Information-Growth Attention Network, ACM MM 2021) as a BasicSR plugin.

Importing the package registers the IGAN arch and the IGANModel and SwitchSRModel model classes, after the one
shim basicsr 1.4.2 needs to import on current torchvision (compat.py). It changes no basicsr function: the
trainer fixes in basicsr_fixes/ are applied by the `basicsr` command and `python -m igan_basicsr.train|test`.
"""
from . import compat

compat.apply()

from . import archs, models  # noqa: E402,F401  (basicsr is importable from here on; registers on import)

__version__ = '0.1.0'
