"""IGAN's model class: the general switches plus loading the authors' released checkpoints."""
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from ..archs.igan_checkpoint import check_igan_size, convert_released, is_released_layout
from ..checkpoints import CheckpointError
from .switch_sr_model import SwitchSRModel


@MODEL_REGISTRY.register()
class IGANModel(SwitchSRModel):
    """SwitchSRModel that also loads IGAN checkpoints in the authors' released layout (converted on load) and
    refuses a checkpoint whose width, depth or scale differs from network_g, naming both."""

    def convert_state(self, net, state, load_path):
        """A state_dict in the authors' released layout, converted; refused when its sizes differ from network_g."""
        if not is_released_layout(state):
            return state
        state, options = convert_released(state, load_path, net.img_range, net.mean.flatten().tolist())
        get_root_logger().info(f'Converted released IGAN checkpoint {load_path}: {options}.')
        check_igan_size(net, state, load_path)
        differ = [f'{k}: network_g has {getattr(net, k, None)!r}, the checkpoint {v!r}'
                  for k, v in options.items() if getattr(net, k, None) != v]
        if differ:
            raise CheckpointError(f'{load_path}: released IGAN does not match network_g ({"; ".join(differ)}).')
        return state

    def check_state(self, net, state, load_path):
        """An IGAN checkpoint of another scale or size named as such before its keys are listed."""
        check_igan_size(net, state, load_path)
        super().check_state(net, state, load_path)
