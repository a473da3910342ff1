"""IGAN for spandrel, the model loader of chaiNNer, ComfyUI, InvokeAI and AUTOMATIC1111 (`pip install
'igan-basicsr[spandrel]'`). One call adds IGAN to spandrel's registry, as spandrel_extra_arches does:

    import igan_basicsr.spandrel_arch
    igan_basicsr.spandrel_arch.install()
    model = spandrel.ModelLoader().load_from_file('IGAN_x4.pth')   # or .safetensors

after which spandrel loads the authors' released IGAN files and this package's BasicSR checkpoints, their sizes read
off the tensors' shapes (archs/igan_checkpoint.py).
"""
from spandrel import MAIN_REGISTRY, Architecture, ArchSupport, ImageModelDescriptor, ModelTiling, SizeRequirements
from spandrel.util import KeyCondition

from .archs.igan_arch import IGAN
from .archs.igan_checkpoint import convert_released, igan_arch_options, is_released_layout

# Keys that only IGAN's state dicts hold together. The released layout names its head and tail as EDSR and RCAN do,
# but keeps its residual blocks under body.N.rbs and its attention under body.N.iia (pool) or body.N.iga (wavelet);
# ours keeps the blocks under body.N.blocks beside the group's own conv.
RELEASED = KeyCondition.has_all('head.0.weight', 'tail.1.weight', 'body.0.rbs.0.conv_first.0.weight',
                                'body.0.conv_last.weight',
                                KeyCondition.has_any('body.0.iia.Capattention.0.weight',
                                                     'body.0.iga.Capattention.0.weight'))
OURS = KeyCondition.has_all('conv_first.weight', 'body.0.blocks.0.conv1.weight', 'body.0.conv.weight',
                            'upsample.0.weight', 'conv_last.weight')
# Measured on the released-format x4 and x8 networks and a trained one (tests/test_spandrel_arch.py,
# docs/inference.md): float16 and bfloat16 give finite outputs within 1e-2 and 5e-2 of float32.
SUPPORTS_HALF = True
SUPPORTS_BFLOAT16 = True


class IGANArch(Architecture[IGAN]):
    """Detects IGAN's state dicts in either layout and builds the network they fit."""

    def __init__(self):
        super().__init__(id='IGAN', detect=KeyCondition.has_any(RELEASED, OURS))

    def load(self, state_dict):
        if is_released_layout(state_dict):
            state_dict, options = convert_released(state_dict)
        else:
            options = igan_arch_options(state_dict)
        model = IGAN(**options)
        channels = model.conv_first.in_channels
        # Tiles change IGAN's output only slightly although its attention pools over the whole input: within
        # 0.001 dB on Set5 at tiles of 48 (docs/inference.md).
        return ImageModelDescriptor(
            model, state_dict, architecture=self, purpose='SR', tags=tags(model), supports_half=SUPPORTS_HALF,
            supports_bfloat16=SUPPORTS_BFLOAT16, scale=model.upscale, input_channels=channels,
            output_channels=channels, size_requirements=SizeRequirements(minimum=model.min_size),
            tiling=ModelTiling.SUPPORTED)


def tags(model):
    """What chaiNNer and ComfyUI show of a model's size: 64nf, 20ng, 10nb, and its attention."""
    attention = model.cagm if model.attention == 'growth' else f'{model.attention} attention'
    return [f'{model.num_feat}nf', f'{model.num_group}ng', f'{model.num_block}nb', attention]


def install(*, ignore_duplicates=False):
    """Add IGAN to spandrel's MAIN_REGISTRY; returns what was added (nothing for a second call with
    ignore_duplicates=True; without it, a second call raises spandrel's DuplicateArchitectureError)."""
    return MAIN_REGISTRY.add(ArchSupport.from_architecture(IGANArch()), ignore_duplicates=ignore_duplicates)
