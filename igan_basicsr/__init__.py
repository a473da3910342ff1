"""IGAN (Information-Growth Attention Network, ACM MM 2021) as a BasicSR plugin."""
from . import compat

compat.apply()

from . import archs, models  # noqa: E402  (register IGAN and IGANModel once basicsr can be imported)

__version__ = '0.1.0'
