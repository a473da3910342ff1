from .bicubic_arch import MatlabBicubic
from .igan_arch import IGAN

__all__ = ['IGAN', 'MatlabBicubic']
