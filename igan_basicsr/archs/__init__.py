from .igan_arch import IGAN

__all__ = ['IGAN']
