"""IGAN in spandrel (chaiNNer, ComfyUI): the real spandrel package loads the released files and this package's
checkpoints after igan_basicsr.spandrel_arch.install(), and tells IGAN from its peers."""
import importlib.util
import os

import pytest
import spandrel
import torch
from basicsr.archs.edsr_arch import EDSR
from basicsr.archs.rcan_arch import RCAN
from basicsr.archs.swinir_arch import SwinIR
from conftest import FIXTURES, REPO
from spandrel import ModelLoader, ModelTiling, UnsupportedModelError
from spandrel.architectures.RCAN import RCAN as OfficialRCAN

from igan_basicsr import spandrel_arch
from igan_basicsr.archs.igan_arch import IGAN
from igan_basicsr.archs.igan_checkpoint import load_released
from igan_basicsr.checkpoints import save_state_dict
from igan_basicsr.infer.engines import from_weights
from igan_basicsr.infer.image_io import Picture
from igan_basicsr.infer.upscaler import NEVER, Switches, Upscaler

spandrel_arch.install(ignore_duplicates=True)


def fixture(scale):
    return (os.path.join(FIXTURES, f'official_x{scale}_g2b2.pth'),
            torch.load(os.path.join(FIXTURES, f'official_x{scale}_g2b2_io.pt'), weights_only=True))


def basicsr_infer(weights, lq):
    """What `basicsr infer --weights W --tile 0` computes for the LR batch `lq`, before it is quantised to a file."""
    picture = Picture(lq[0].permute(1, 2, 0).contiguous().numpy(), None, 8)
    return torch.from_numpy(Upscaler(from_weights(weights, torch.device('cpu')), Switches(tile=NEVER))(picture)
                            .picture.color).permute(2, 0, 1)[None]


@pytest.mark.parametrize('scale, cagm, minimum', [(4, 'pool', 2), (8, 'wavelet', 6)])
def test_the_released_files_load_and_give_what_basicsr_infer_gives(scale, cagm, minimum):
    path, io = fixture(scale)
    model = ModelLoader().load_from_file(path)
    assert (model.architecture.id, model.purpose, model.scale, model.input_channels, model.output_channels) == \
        ('IGAN', 'SR', scale, 3, 3)
    assert model.tags == ['64nf', '2ng', '2nb', cagm]
    assert model.size_requirements.minimum == minimum and model.tiling == ModelTiling.SUPPORTED
    with torch.no_grad():
        out = model(io['lq'])
    assert (out - basicsr_infer(path, io['lq'])).abs().max() < 1e-5
    assert (out - io['sr'].clamp(0, 1)).abs().max() < 1e-4  # the authors' network, as the spec bounds it


def test_an_input_below_the_minimum_is_padded_by_spandrel():
    model = ModelLoader().load_from_file(fixture(8)[0])
    with torch.no_grad():
        assert model(torch.rand(1, 3, 4, 5)).shape == (1, 3, 32, 40)


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_this_packages_checkpoints_load_with_their_sizes_read_from_the_shapes(suffix, tmp_path):
    net = IGAN(num_feat=16, num_group=3, num_block=2, upscale=2, cagm='mean')
    path = tmp_path / f'net_g_latest{suffix}'
    save_state_dict(net.state_dict(), path)
    model = ModelLoader().load_from_file(path)
    assert (model.architecture.id, model.scale, model.tags) == ('IGAN', 2, ['16nf', '3ng', '2nb', 'mean'])
    assert all(torch.equal(a, b) for a, b in zip(model.model.state_dict().values(), net.state_dict().values()))


def test_a_released_state_dict_saved_as_safetensors_loads(tmp_path):
    path, io = fixture(4)
    save_state_dict(torch.load(path, weights_only=True), tmp_path / 'released.safetensors')
    model = ModelLoader().load_from_file(tmp_path / 'released.safetensors')
    with torch.no_grad():
        assert (model(io['lq']) - basicsr_infer(path, io['lq'])).abs().max() < 1e-5


def test_the_peers_checkpoints_are_not_taken_for_igan():
    """basicsr's EDSR, RCAN and SwinIR (the networks the comparisons run) and spandrel's own RCAN (the official
    layout, whose head and tail keys IGAN's released layout shares)."""
    peers = {'EDSR': EDSR(3, 3, num_feat=16, num_block=2, upscale=4),
             'RCAN': RCAN(3, 3, num_feat=16, num_group=2, num_block=2, upscale=4),
             'SwinIR': SwinIR(upscale=4, img_size=16, window_size=8, embed_dim=12, depths=[2], num_heads=[2],
                              mlp_ratio=2, upsampler='pixelshuffle'),
             'official RCAN': OfficialRCAN(scale=4, n_resgroups=2, n_resblocks=2, n_feats=16)}
    detect = spandrel.MAIN_REGISTRY['IGAN'].detect
    assert [name for name, net in peers.items() if detect(net.state_dict())] == []
    assert ModelLoader().load_from_state_dict(peers['official RCAN'].state_dict()).architecture.id == 'RCAN'
    assert ModelLoader().load_from_state_dict(peers['SwinIR'].state_dict()).architecture.id == 'SwinIR'
    for name in ('EDSR', 'RCAN'):  # basicsr's own layouts, which spandrel does not know
        with pytest.raises(UnsupportedModelError):
            ModelLoader().load_from_state_dict(peers[name].state_dict())


@pytest.mark.parametrize('dtype, bound', [(torch.float16, 1e-2), (torch.bfloat16, 5e-2)])
@pytest.mark.parametrize('scale', [4, 8])
def test_the_half_and_bfloat16_flags_hold_on_the_released_networks(scale, dtype, bound):
    """supports_half and supports_bfloat16 as measured: finite outputs near float32's (docs/inference.md)."""
    path, io = fixture(scale)
    model = ModelLoader().load_from_file(path)
    assert model.supports_half and model.supports_bfloat16
    with torch.no_grad():
        reference = model(io['lq'])
        out = model.to(dtype)(io['lq'].to(dtype)).float()
    assert torch.isfinite(out).all() and (out - reference).abs().max() < bound


def test_install_adds_igan_once():
    with pytest.raises(spandrel.DuplicateArchitectureError):
        spandrel_arch.install()
    assert spandrel_arch.install(ignore_duplicates=True) == []
    state, _ = load_released(fixture(4)[0])
    assert spandrel_arch.IGANArch().detect(state)


def test_the_comfyui_node_folder_registers_igan_and_adds_no_node():
    """ComfyUI imports each folder of custom_nodes/ as a package and reads its NODE_CLASS_MAPPINGS."""
    folder = os.path.join(REPO, 'scripts', 'deployment', 'comfyui_igan')
    spec = importlib.util.spec_from_file_location('comfyui_igan', os.path.join(folder, '__init__.py'),
                                                  submodule_search_locations=[folder])
    node = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(node)
    assert node.NODE_CLASS_MAPPINGS == {} and 'IGAN' in spandrel.MAIN_REGISTRY
    assert ModelLoader().load_from_file(fixture(4)[0]).architecture.id == 'IGAN'
