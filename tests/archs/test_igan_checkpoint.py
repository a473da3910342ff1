import json
import os
import re

import pytest
import torch
from basicsr.utils.registry import ARCH_REGISTRY
from conftest import FIXTURES
from safetensors.torch import load_file, save_file

from igan_basicsr.archs.igan_arch import DIV2K_RGB_MEAN, haar_filters
from igan_basicsr.archs.igan_checkpoint import convert_released, load_released
from igan_basicsr.checkpoints import CheckpointError
from scripts.model_conversion import convert_official

TOLERANCE = 1e-4  # the spec's bound on |ours - reference|


def fixture(scale):
    base = os.path.join(FIXTURES, f'official_x{scale}_g2b2')
    with open(base + '.json') as f:
        meta = json.load(f)
    return base + '.pth', torch.load(base + '_io.pt', weights_only=True), meta


def max_error(net, io):
    net.eval()
    with torch.no_grad():
        return (net(io['lq']) - io['sr']).abs().max().item()


@pytest.mark.parametrize('scale', [4, 8])
def test_converter_reproduces_the_reference_outputs(scale, tmp_path, call):
    pth, io, meta = fixture(scale)
    out = tmp_path / 'converted.pth'
    proc = call(convert_official, pth, str(out), '--scale', str(scale))
    assert proc.returncode == 0, proc.stderr
    assert f'num_group={meta["num_group"]}, num_block={meta["num_block"]}' in proc.stdout
    ckpt = torch.load(out, weights_only=True)
    assert list(ckpt) == ['params']
    net = ARCH_REGISTRY.get('IGAN')(upscale=scale, num_group=meta['num_group'], num_block=meta['num_block'])
    net.load_state_dict(ckpt['params'], strict=True)
    assert max_error(net, io) < TOLERANCE


def test_the_converter_reads_and_writes_safetensors_and_basicsr_test_loads_them(tmp_path, call):
    """A released state dict saved as .safetensors converts to a .safetensors of our layout, which IGANModel loads
    as pretrain_network_g to the reference outputs; nothing is unpickled on the way."""
    from basicsr.models import build_model
    pth, io, _ = fixture(4)
    released = tmp_path / 'released.safetensors'
    save_file(torch.load(pth, weights_only=True), released)
    out = tmp_path / 'IGAN_x4.safetensors'
    proc = call(convert_official, str(released), str(out))
    assert proc.returncode == 0 and proc.stdout.endswith(f'wrote {out}\n'), proc.stderr
    assert 'body.0.blocks.0.conv1.weight' in load_file(out)
    opt = {'model_type': 'IGANModel', 'is_train': False, 'num_gpu': 0, 'dist': False, 'scale': 4,
           'network_g': {'type': 'IGAN', 'upscale': 4, 'num_group': 2, 'num_block': 2},
           'path': {'pretrain_network_g': str(out), 'strict_load_g': True}}
    assert max_error(build_model(opt).net_g, io) < TOLERANCE


@pytest.mark.parametrize('scale', [4, 8])
def test_pretrain_network_g_accepts_a_released_file(scale):
    from basicsr.models import build_model
    pth, io, meta = fixture(scale)
    opt = {
        'model_type': 'IGANModel', 'is_train': False, 'num_gpu': 0, 'dist': False, 'scale': scale,
        'network_g': {'type': 'IGAN', 'upscale': scale, 'num_group': 2, 'num_block': 2},
        'path': {'pretrain_network_g': pth, 'strict_load_g': True},
    }
    model = build_model(opt)
    assert max_error(model.net_g, io) < TOLERANCE


def test_module_prefix_is_accepted(tmp_path):
    pth, io, _ = fixture(4)
    state = torch.load(pth, weights_only=True)
    prefixed = tmp_path / 'dp.pth'
    torch.save({f'module.{k}': v for k, v in state.items()}, prefixed)
    converted, options = load_released(str(prefixed))
    net = ARCH_REGISTRY.get('IGAN')(**options)
    net.load_state_dict(converted, strict=True)
    assert max_error(net, io) < TOLERANCE


def manifest_state(scale):
    """A state_dict with every key and shape of the full released checkpoint (values: constants where fixed)."""
    state = {}
    with open(os.path.join(FIXTURES, f'official_x{scale}_full_keys.txt')) as f:
        for line in f:
            key, shape = line.split(' ', 1)
            state[key] = torch.zeros(tuple(int(d) for d in re.findall(r'\d+', shape)))
    mean = torch.tensor(DIV2K_RGB_MEAN) * 255
    state['sub_mean.bias'], state['add_mean.bias'] = -mean, mean
    state['sub_mean.weight'] = state['add_mean.weight'] = torch.eye(3).view(3, 3, 1, 1)
    for key in state:
        if key.endswith('wavedec.conv.weight'):
            state[key] = haar_filters().repeat(state[key].shape[0] // 4, 1, 1, 1)
    return state


@pytest.mark.parametrize('scale, params', [(4, 16_290_027), (8, 16_652_779)])
def test_full_manifests_convert_to_the_paper_size_model(scale, params):
    converted, options = convert_released(manifest_state(scale))
    assert options == dict(num_feat=64, num_group=20, num_block=10, upscale=scale,
                           cagm='wavelet' if scale == 8 else 'pool')
    net = ARCH_REGISTRY.get('IGAN')(upscale=scale, num_group=20, num_block=10)
    net.load_state_dict(converted, strict=True)
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == params


def saved(tmp_path, state, name='bad.pth'):
    path = tmp_path / name
    torch.save(state, path)
    return str(path)


def test_wrong_scale_is_refused(tmp_path, call):
    pth, _, _ = fixture(8)
    proc = call(convert_official, pth, str(tmp_path / 'o.pth'), '--scale', '4')
    assert proc.returncode == 1
    assert 'x8 checkpoint' in proc.stderr and '--scale 4' in proc.stderr
    assert not (tmp_path / 'o.pth').exists()


def test_extra_and_missing_keys_are_named(tmp_path):
    state = torch.load(fixture(4)[0], weights_only=True)
    state['body.0.extra_attention.weight'] = torch.zeros(3)
    with pytest.raises(CheckpointError, match='body.0.extra_attention.weight'):
        load_released(saved(tmp_path, state))
    state = torch.load(fixture(4)[0], weights_only=True)
    del state['body.1.rbs.0.conv_first.2.bias']
    with pytest.raises(CheckpointError, match=r'missing keys: body\.1\.blocks\.0\.conv2\.bias'):
        load_released(saved(tmp_path, state))


def test_wrong_width_names_the_shapes(tmp_path):
    state = torch.load(fixture(4)[0], weights_only=True)
    state['body.0.rbs.1.conv_first.0.weight'] = torch.zeros(64, 64, 5, 5)
    with pytest.raises(CheckpointError,
                       match=r'body\.0\.blocks\.1\.conv1\.weight \(64, 64, 5, 5\) vs \(64, 64, 3, 3\)'):
        load_released(saved(tmp_path, state))


def test_width_mismatch_with_network_g_is_reported_by_the_model(tmp_path):
    from basicsr.models import build_model
    opt = {
        'model_type': 'IGANModel', 'is_train': False, 'num_gpu': 0, 'dist': False, 'scale': 4,
        'network_g': {'type': 'IGAN', 'upscale': 4, 'num_group': 2, 'num_block': 2, 'num_feat': 32},
        'path': {'pretrain_network_g': fixture(4)[0], 'strict_load_g': True},
    }
    with pytest.raises(CheckpointError, match=r'this is an x4 IGAN checkpoint \(num_feat 64, num_group 2, '
                       r'num_block 2\), but network_g builds an x4 IGAN \(num_feat 32, '):
        build_model(opt)


def test_truncated_file_is_refused(tmp_path):
    with open(fixture(4)[0], 'rb') as f:
        data = f.read()
    path = tmp_path / 'truncated.pth'
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='truncated'):
        load_released(str(path))


class Payload:
    pass


def test_pickle_that_needs_code_is_refused(tmp_path):
    path = saved(tmp_path, {'head.0.weight': torch.zeros(1), 'payload': Payload()})
    with pytest.raises(CheckpointError, match='run code'):
        load_released(path)


def test_wrong_mean_shift_is_refused(tmp_path):
    state = torch.load(fixture(4)[0], weights_only=True)
    state['sub_mean.bias'] = state['sub_mean.bias'] / 255
    with pytest.raises(CheckpointError, match='sub_mean.bias.*img_range=255'):
        load_released(saved(tmp_path, state))


def test_a_mean_shift_that_divides_by_a_std_is_refused(tmp_path):
    state = torch.load(fixture(4)[0], weights_only=True)
    state['add_mean.weight'] = torch.diag(torch.tensor([0.5, 1.0, 1.0])).view(3, 3, 1, 1)
    with pytest.raises(CheckpointError, match='add_mean.weight is not the 3x3 identity'):
        load_released(saved(tmp_path, state))


def test_a_missing_ema_key_loads_params_and_says_so(tmp_path):
    """basicsr's rule for `param_key_g: params_ema` on a file saved without EMA weights, kept by IGANModel."""
    import logging

    from basicsr.models import build_model
    network = {'type': 'IGAN', 'upscale': 4, 'num_feat': 8, 'num_group': 1, 'num_block': 1}
    state = ARCH_REGISTRY.get('IGAN')(**{k: v for k, v in network.items() if k != 'type'}).state_dict()
    torch.save({'params': state}, tmp_path / 'plain.pth')
    records, logger = [], logging.getLogger('basicsr')
    handler, level = logging.Handler(), logger.level
    handler.emit = records.append
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # basicsr's logger says INFO only once a training log file is opened
    try:
        model = build_model({'model_type': 'IGANModel', 'is_train': False, 'num_gpu': 0, 'dist': False, 'scale': 4,
                             'network_g': network, 'path': {'pretrain_network_g': str(tmp_path / 'plain.pth'),
                                                            'param_key_g': 'params_ema'}})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert 'Loading: params_ema does not exist, use params.' in [r.getMessage() for r in records]
    loaded = model.net_g.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
