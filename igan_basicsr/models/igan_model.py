"""IGAN's model class: the general switches plus loading the authors' released checkpoints."""
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from ..released import (
    CheckpointError,
    check_state_dict,
    convert_released,
    extract_state_dict,
    is_released_layout,
    load_checkpoint,
)
from .switch_sr_model import SwitchSRModel


@MODEL_REGISTRY.register()
class IGANModel(SwitchSRModel):
    """SwitchSRModel that also loads IGAN checkpoints in the authors' released layout (converted on load) and
    refuses a checkpoint whose width, depth or scale differs from network_g, naming both."""

    def load_network(self, net, load_path, strict=True, param_key='params'):
        logger = get_root_logger()
        net = self.get_bare_model(net)
        ckpt = load_checkpoint(load_path)
        if isinstance(ckpt, dict) and param_key not in ckpt and 'params' in ckpt:
            # basicsr's own fallback (a file saved without EMA weights), said in the log as basicsr says it.
            logger.info(f'Loading: {param_key} does not exist, use params.')
            param_key = 'params'
        state = extract_state_dict(ckpt, load_path, param_key)
        if is_released_layout(state):
            state, options = convert_released(state, load_path, net.img_range, net.mean.flatten().tolist())
            logger.info(f'Converted released IGAN checkpoint {load_path}: {options}.')
            differ = [f'{k}: network_g has {getattr(net, k, None)!r}, the checkpoint {v!r}'
                      for k, v in options.items() if getattr(net, k, None) != v]
            if differ:
                raise CheckpointError(f'{load_path}: released IGAN does not match network_g ({"; ".join(differ)}).')
            check_state_dict(net, state, load_path)
        else:
            logger.info(f'Loading {type(net).__name__} from {load_path} [{param_key}].')
            if strict:
                check_state_dict(net, state, load_path)
            self._print_different_keys_loading(net, state, strict)
        net.load_state_dict(state, strict=strict)
