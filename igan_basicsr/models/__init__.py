from .igan_model import IGANModel
from .switch_sr_model import SwitchSRModel, has_switches
from .switches import SWITCH_KEYS, switch_errors

__all__ = ['IGANModel', 'SWITCH_KEYS', 'SwitchSRModel', 'has_switches', 'switch_errors']
