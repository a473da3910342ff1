"""IGAN (Information-Growth Attention Network, ACM MM 2021) as a BasicSR plugin."""
from . import compat

compat.apply()

from . import archs, distributed, models, resume  # noqa: E402  (basicsr is importable from here on)

distributed.install()
resume.install()

__version__ = '0.1.0'
