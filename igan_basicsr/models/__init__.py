from .igan_model import IGANModel

__all__ = ['IGANModel']
