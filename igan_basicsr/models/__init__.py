from .igan_model import IGANModel
from .switch_sr_model import SwitchSRModel, has_switches

__all__ = ['IGANModel', 'SwitchSRModel', 'has_switches']
