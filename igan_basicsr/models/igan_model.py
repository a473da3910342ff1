from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from ..released import CheckpointError, check_state_dict, convert_released, extract_state_dict, is_released_layout, load_checkpoint


@MODEL_REGISTRY.register()
class IGANModel(SRModel):
    """SRModel for IGAN: also loads the authors' released checkpoints, always with weights_only=True."""

    def load_network(self, net, load_path, strict=True, param_key='params'):
        logger = get_root_logger()
        net = self.get_bare_model(net)
        state = extract_state_dict(load_checkpoint(load_path), load_path, param_key)
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
