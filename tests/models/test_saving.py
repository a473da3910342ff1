"""`logger: save_checkpoint_format: safetensors`: the networks saved as tensor files, read back by resume, by
`basicsr infer` and by `basicsr test`."""
import os
import sys

import pytest
import torch
from conftest import SET5, run_cli, tiny_train_options, write_yaml
from safetensors.torch import load_file

from igan_basicsr.checkpoints import CheckpointError, load_checkpoint, save_state_dict
from igan_basicsr.models.saving import network_file, weights_file

SAVED = ['net_g_4.safetensors', 'net_g_8.safetensors', 'net_g_ema_4.safetensors', 'net_g_ema_8.safetensors',
         'net_g_ema_latest.safetensors', 'net_g_latest.safetensors']


def safetensors_options(name, iters):
    opt = tiny_train_options(name, iters=iters)
    opt['train']['ema_decay'] = 0.9
    opt['logger'].update(save_checkpoint_freq=4, save_checkpoint_format='safetensors', use_tb_logger=False)
    opt['val']['val_freq'] = 8
    return opt


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Two trainings of 8 iterations with EMA, saving safetensors: one straight through, one stopped at 4 and
    resumed from its state to 8."""
    root = tmp_path_factory.mktemp('safetensors')
    run_cli(['basicsr', 'train', '-opt', write_yaml(root / 'straight.yml', safetensors_options('straight', 8))],
            cwd=root)
    halves = write_yaml(root / 'halves.yml', safetensors_options('halves', 4))
    run_cli(['basicsr', 'train', '-opt', halves], cwd=root)
    resumed = run_cli(['basicsr', 'train', '-opt', halves, '--auto_resume', '--force_yml', 'train:total_iter=8'],
                      cwd=root)
    return root, resumed


@pytest.mark.slow
def test_training_writes_one_tensor_file_per_set_of_weights(runs):
    root, _ = runs
    models = root / 'experiments' / 'straight' / 'models'
    assert sorted(os.listdir(models)) == SAVED
    net = load_file(models / 'net_g_latest.safetensors')
    assert 'body.1.cagm.conv3.weight' in net and 'params' not in net
    ema = load_file(models / 'net_g_ema_latest.safetensors')
    assert not torch.equal(net['conv_first.weight'], ema['conv_first.weight'])


@pytest.mark.slow
def test_a_resumed_run_reaches_the_weights_and_ema_of_an_uninterrupted_one(runs):
    root, resumed = runs
    assert f"Set pretrain_network_g to {root}/experiments/halves/models/net_g_4.safetensors" in resumed.stdout
    assert f'Loading IGAN from {root}/experiments/halves/models/net_g_ema_4.safetensors [params_ema]' in resumed.stderr
    for name in ('net_g_latest.safetensors', 'net_g_ema_latest.safetensors'):
        a = load_file(root / 'experiments' / 'straight' / 'models' / name)
        b = load_file(root / 'experiments' / 'halves' / 'models' / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


@pytest.mark.slow
def test_basicsr_infer_upscales_with_a_safetensors_file_as_with_the_same_weights_in_a_pth(runs, tmp_path):
    root, _ = runs
    weights = root / 'experiments' / 'straight' / 'models' / 'net_g_ema_latest.safetensors'
    save_state_dict(load_file(weights), tmp_path / 'ema.pth')
    lr = os.path.join(SET5, 'LR_bicubic', 'X4', 'birdx4.png')
    for source in (weights, tmp_path / 'ema.pth'):
        proc = run_cli(['basicsr', 'infer', '-i', lr, '-o', str(tmp_path / source.suffix[1:]), '--weights',
                        str(source)], cwd=tmp_path)
        assert proc.stdout.startswith('IGAN x4 (num_feat=16, num_group=2, num_block=1, upscale=4, cagm=pool) from '
                                      f'{source} on cpu')
    assert (tmp_path / 'safetensors' / 'birdx4.png').read_bytes() == (tmp_path / 'pth' / 'birdx4.png').read_bytes()


def test_the_files_of_a_set_of_weights_are_named_beside_each_other(tmp_path):
    assert network_file('m', 'net_g', 8, 'pth', 'params_ema') == os.path.join('m', 'net_g_8.pth')
    assert network_file('m', 'net_g', 'latest', 'safetensors', 'params_ema') == \
        os.path.join('m', 'net_g_ema_latest.safetensors')
    assert weights_file('IGAN.safetensors', 'params_ema') == 'IGAN.safetensors'


def test_a_safetensors_file_is_written_whole_and_never_unpickled(tmp_path, monkeypatch):
    path = tmp_path / 'w.safetensors'
    conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    save_state_dict(conv.state_dict(), path)
    monkeypatch.setattr(torch, 'load', lambda *a, **k: pytest.fail('torch.load on a tensor file'))
    assert torch.equal(load_checkpoint(path)['weight'], conv.weight)
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(CheckpointError, match=rf'^{path}: unreadable, probably truncated or not a safetensors file '
                                              r'\(Error while deserializing header: incomplete metadata'):
        load_checkpoint(path)


def test_without_the_package_a_safetensors_file_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'safetensors.torch', None)
    with pytest.raises(CheckpointError, match=r"^\.safetensors files need the safetensors package: pip install "
                                              r"'igan-basicsr\[safetensors\]'$"):
        load_checkpoint(tmp_path / 'w.safetensors')
