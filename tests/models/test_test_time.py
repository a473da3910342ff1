import csv
import glob
import json
import os
import re

import cv2
import numpy as np
import pytest
import torch
from basicsr.metrics import calculate_psnr
from basicsr.models import build_model
from basicsr.utils import img2tensor, tensor2img
from conftest import FIXTURES, SET5, released_test_options, run_cli, write_yaml

from igan_basicsr.comparison.measure import measure
from igan_basicsr.models.precision import conv_precision, conv_tf32, set_conv_tf32
from igan_basicsr.models.test_time import self_ensemble, tiled_forward


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def nearest(scale):
    """A purely local 'network' (nearest-neighbour upscaling): any tiling must give its exact output."""
    return lambda x: x.repeat_interleave(scale, -2).repeat_interleave(scale, -1)


def test_tiles_are_stitched_without_seams_or_slivers():
    lq = torch.rand(1, 3, 37, 201)
    sizes = []

    def net(x):
        sizes.append(tuple(x.shape[-2:]))
        return nearest(3)(x)

    out = tiled_forward(net, lq, scale=3, tile=100, tile_pad=5)
    assert torch.equal(out, nearest(3)(lq))
    # 201 columns in tiles of at most 100: three of 67 (plus context), never a 1-pixel remainder.
    assert len(sizes) == 3 and all(w >= 67 for _, w in sizes) and all(w <= 100 + 2 * 5 for _, w in sizes)


def test_self_ensemble_averages_the_eight_symmetries():
    lq = torch.rand(1, 3, 12, 12)
    ramp = torch.linspace(0, 1, 24).expand(1, 3, 24, 24)

    def biased(x):
        # Upscaling plus a left-to-right ramp: the ramp, flipped and rotated 8 ways and mapped back, averages
        # to its mean, 0.5, everywhere.
        return nearest(2)(x) + ramp

    torch.testing.assert_close(self_ensemble(biased, lq), nearest(2)(lq) + 0.5)


def model_options(val=None, **net):
    opt = {'model_type': 'IGANModel', 'is_train': False, 'num_gpu': 0, 'dist': False, 'scale': 4,
           'network_g': dict({'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 2, 'num_block': 1}, **net),
           'path': {'pretrain_network_g': None}}
    if val is not None:
        opt['val'] = val
    return opt


def output_of(opt, lq, weights):
    model = build_model(opt)
    model.net_g.load_state_dict(weights)
    model.lq = lq
    model.test()
    return model.output


@pytest.fixture
def lq():
    return torch.rand(1, 3, 37, 29, generator=torch.Generator().manual_seed(3))


def test_tiles_reproduce_a_network_without_global_pooling(lq):
    torch.manual_seed(0)
    weights = build_model(model_options(attention='none')).net_g.state_dict()
    whole = output_of(model_options(attention='none'), lq, weights)
    # Receptive field of this network: 1 + 2 x (2 + 1) LR pixels, then the upsampler's; 12 pixels cover it.
    tiled = output_of(model_options({'tile': 16, 'tile_pad': 12}, attention='none'), lq, weights)
    assert (tiled - whole).abs().max() < 1e-5
    # Too little context changes the tile borders.
    assert (output_of(model_options({'tile': 16}, attention='none'), lq, weights) - whole).abs().max() > 1e-3


def test_tiles_change_growth_attention_a_little_and_a_big_tile_not_at_all(lq):
    torch.manual_seed(0)
    weights = build_model(model_options()).net_g.state_dict()
    whole = output_of(model_options(), lq, weights)
    assert torch.equal(output_of(model_options({'tile': 64, 'tile_pad': 8}), lq, weights), whole)
    tiled = output_of(model_options({'tile': 16, 'tile_pad': 12}), lq, weights)
    # The CAGM pools over each tile instead of the image: a visible but small change.
    assert 1e-5 < (tiled - whole).abs().max() < 0.1


def test_self_ensemble_option_runs_the_eight_symmetries(lq):
    torch.manual_seed(0)
    weights = build_model(model_options()).net_g.state_dict()
    model = build_model(model_options({'self_ensemble': True}))
    model.net_g.load_state_dict(weights)
    model.lq = lq
    model.test()
    with torch.no_grad():
        expected = self_ensemble(model.net_g.eval(), lq)
    torch.testing.assert_close(model.output, expected)
    assert model.output.shape == (1, 3, 37 * 4, 29 * 4)


@pytest.mark.parametrize('device', ['cpu', pytest.param('cuda', marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA GPU'))])
def test_released_fixture_still_matches_through_test(device):
    # On an H200 with PyTorch's default TF32 convolutions the error was 2.2e-3; in float32, 3.8e-6.
    io = torch.load(os.path.join(FIXTURES, 'official_x4_g2b2_io.pt'), weights_only=True)
    opt = model_options({'metrics': {}}, num_feat=64, num_group=2, num_block=2)
    opt.update(num_gpu=1 if device == 'cuda' else 0)
    opt['path']['pretrain_network_g'] = os.path.join(FIXTURES, 'official_x4_g2b2.pth')
    model = build_model(opt)
    model.feed_data({'lq': io['lq']})
    model.test()
    assert model.output.device.type == device
    assert (model.output.cpu() - io['sr']).abs().max() < 1e-4


@pytest.mark.parametrize('tf32', [False, True])
def test_conv_precision_sets_cuda_convolutions_and_restores_them(tf32):
    before = conv_tf32()
    try:
        set_conv_tf32(not tf32)
        with conv_precision(tf32, 'cuda'):
            assert conv_tf32() is tf32
        assert conv_tf32() is (not tf32)
        with pytest.raises(KeyError), conv_precision(tf32, 'cuda'):
            raise KeyError('a failing forward')
        assert conv_tf32() is (not tf32)
        with conv_precision(tf32, 'cpu'):
            assert conv_tf32() is (not tf32)  # nothing to change for a CPU model
    finally:
        set_conv_tf32(before)


@pytest.mark.parametrize('val, expected', [({}, False), ({'tf32': True}, True)])
def test_test_runs_under_the_tf32_option(lq, val, expected, monkeypatch):
    import igan_basicsr.models.switch_sr_model as switch_sr_model
    calls = []
    monkeypatch.setattr(switch_sr_model, 'conv_precision', lambda *args: calls.append(args) or conv_precision(*args))
    model = build_model(model_options(val))
    model.lq = lq
    model.test()
    assert calls == [(expected, model.device)]


@pytest.mark.skipif(not hasattr(torch.backends.cudnn, 'conv'), reason='torch without cudnn.conv.fp32_precision')
def test_tf32_setting_works_after_the_newer_torch_setting_was_used():
    # Reading torch.backends.cudnn.allow_tf32 raises once cudnn.conv.fp32_precision differs from cudnn.rnn's.
    conv = torch.backends.cudnn.conv
    before = conv.fp32_precision
    conv.fp32_precision = 'ieee'
    try:
        with conv_precision(True, 'cuda'):
            assert conv.fp32_precision == 'tf32'
        assert conv.fp32_precision == 'ieee'
    finally:
        conv.fp32_precision = before


@pytest.mark.parametrize('val, net, message', [
    ({'tile_pad': 8}, {}, 'tile_pad is set but tile is not'),
    ({'tile': 4}, {'cagm': 'wavelet'}, r'tile=4 must be an integer of at least 6'),
    ({'tile': 32, 'tile_pad': -1}, {}, r'tile_pad=-1 must be an integer >= 0'),
    ({'tile': '32'}, {}, r"tile='32' must be an integer"),
    ({'self_ensemble': 'yes'}, {}, r"self_ensemble='yes' must be true or false"),
    ({'tf32': 1}, {}, r"tf32=1 must be true or false"),
    ({'amp': 'fp8'}, {}, r"amp='fp8' is not one of \('bf16', 'fp16'\)"),
])
def test_bad_test_options_are_refused_when_the_model_is_built(val, net, message):
    with pytest.raises(ValueError, match=message):
        build_model(model_options(val, **net))


@pytest.mark.slow
def test_basicsr_test_with_tiles_and_self_ensemble(tmp_path):
    opt = released_test_options('set5_tiled', tile=40, tile_pad=8, self_ensemble=True)
    run_cli(['basicsr', 'test', '-opt', write_yaml(tmp_path / 'tiled.yml', opt)], cwd=tmp_path)
    results = tmp_path / 'results' / 'set5_tiled'
    log = open(glob.glob(str(results / 'test_set5_tiled_*.log'))[0]).read()
    logged = float(re.search(r'Validation Set5\s+# psnr: ([\d.]+)', log)[1])
    # basicsr's log holds the mean PSNR of the images it saved.
    psnrs = []
    for hr_path in sorted(glob.glob(os.path.join(SET5, 'HR', '*.png'))):
        stem = os.path.splitext(os.path.basename(hr_path))[0]
        saved = cv2.imread(os.path.join(results, 'visualization', 'Set5', f'{stem}x4_set5_tiled.png'))
        psnrs.append(calculate_psnr(saved, cv2.imread(hr_path), crop_border=4, test_y_channel=True))
    assert logged == pytest.approx(np.mean(psnrs), abs=1e-4)
    # A saved image is the model's output with these tiles and the self-ensemble, made here (woman: 57x86 LR
    # pixels, tiled both ways).
    model = build_model(dict(opt, is_train=False, dist=False))
    model.lq = img2tensor(cv2.imread(os.path.join(SET5, 'LR_bicubic', 'X4', 'womanx4.png')) / 255., bgr2rgb=True,
                          float32=True)[None]
    model.test()
    assert np.array_equal(tensor2img(model.output),
                          cv2.imread(os.path.join(results, 'visualization', 'Set5', 'womanx4_set5_tiled.png')))


@pytest.mark.slow
def test_tiles_bound_the_memory_of_a_large_image(tmp_path):
    # A wide, shallow IGAN at the LR size of a 2040x1356 x4 output: the whole-image upsampler holds
    # 256-channel maps of the full image; tiles of 64 hold those of one tile.
    opt = write_yaml(tmp_path / 'wide.yml', {'name': 'wide', 'model_type': 'IGANModel', 'scale': 4, 'network_g': {
        'type': 'IGAN', 'upscale': 4, 'num_feat': 64, 'num_group': 1, 'num_block': 1}})
    whole = measure(opt, (510, 339), 0, use_weights=False)
    tiled = measure(opt, (510, 339), 0, use_weights=False, tile=64, tile_pad=8)
    assert whole['output_shape'] == tiled['output_shape'] == [1, 3, 1356, 2040]
    grown = {r['val'].get('tile'): r['peak_mem_mib'] - r['mem_before_inference_mib'] for r in (whole, tiled)}
    assert grown[None] > 1000 and grown[64] < grown[None] / 4, json.dumps(grown)
