import glob
import os
import re

import pytest
import torch
from basicsr.archs import build_network
from basicsr.models import build_model
from conftest import SCORE_TOLERANCE, released_test_options, run_cli, set5_scores, tiny_train_options, write_yaml

from igan_basicsr import cli


def test_help_lists_the_subcommands(call):
    shown = call(cli, '--help')
    assert shown.returncode == 0
    assert shown.stdout.startswith('usage: basicsr [-h] {train,test,infer} ...')
    assert 'basicsr train_pipeline' in shown.stdout and '--force_yml' in shown.stdout
    bare = call(cli)
    assert bare.returncode == 2 and bare.stdout == shown.stdout


def test_missing_option_file_is_one_line(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    refused = call(cli, 'train', '-opt', 'nowhere.yml')
    assert refused.returncode == 2
    assert refused.stderr.strip() == 'basicsr train: error: option file not found: nowhere.yml'


def test_yaml_error_is_one_line(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'broken.yml').write_text('name: x\nnetwork_g: [1,\n')
    refused = call(cli, 'test', '-opt', 'broken.yml')
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('basicsr test: error: broken.yml (line 3')
    assert 'Traceback' not in refused.stderr


@pytest.mark.slow
def test_basicsr_train_writes_checkpoint_and_validation_psnr(tmp_path):
    # The console entry point in the venv's bin, as a user runs it.
    opt_file = write_yaml(tmp_path / 'tiny.yml', tiny_train_options('tiny_igan'))
    run_cli(['basicsr', 'train', '-opt', opt_file], cwd=tmp_path)
    exp = tmp_path / 'experiments' / 'tiny_igan'
    for ckpt in ('net_g_4.pth', 'net_g_latest.pth'):
        params = torch.load(exp / 'models' / ckpt, weights_only=True)['params']
        assert 'body.1.cagm.conv3.weight' in params
    assert (exp / 'training_states' / '4.state').is_file()
    log = open(glob.glob(str(exp / 'train_tiny_igan_*.log'))[0]).read()
    # One validation, at the last iteration (basicsr's own loop would validate it twice), and its PSNR is the
    # saved network's on Set5, computed here image by image.
    psnr = [float(v) for v in re.findall(r'# psnr: ([\d.]+)', log)]
    net = build_network(tiny_train_options('tiny_igan')['network_g'])
    net.load_state_dict(params)
    assert psnr == [pytest.approx(set5_scores(net)[0], abs=1e-4 + SCORE_TOLERANCE)]
    assert glob.glob(str(tmp_path / 'tb_logger' / 'tiny_igan' / 'events.out.tfevents.*'))


@pytest.mark.slow
def test_python_m_train_runs_the_same_pipeline_with_the_forced_options_checked(tmp_path):
    """--force_yml changes what the run uses, so the check sees the forced values, not the file's: a file whose
    validation path is wrong trains once --force_yml puts it right (the refusal of a bad forced value:
    tests/options/test_option_checks.py)."""
    opt = tiny_train_options('tiny_module', iters=4)
    good = opt['datasets']['val']['dataroot_lq']
    opt['datasets']['val']['dataroot_lq'] = 'datasets/nowhere/X4'
    opt_file = write_yaml(tmp_path / 'moved.yml', opt)
    run_cli(['python', '-m', 'igan_basicsr.train', '-opt', opt_file, '--force_yml', f'datasets:val:dataroot_lq={good}',
             'train:total_iter=2'], cwd=tmp_path)
    models = tmp_path / 'experiments' / 'tiny_module' / 'models'
    # Forced to 2 iterations: the file's 4 would have saved net_g_4.pth.
    assert sorted(os.listdir(models)) == ['net_g_latest.pth']


@pytest.mark.slow
def test_basicsr_test_on_set5_with_a_released_checkpoint(tmp_path):
    opt_dict = released_test_options('set5_released')
    opt_file = write_yaml(tmp_path / 'test.yml', opt_dict)
    run_cli(['basicsr', 'test', '-opt', opt_file], cwd=tmp_path)
    results = tmp_path / 'results' / 'set5_released'
    saved = sorted(os.path.basename(p) for p in glob.glob(str(results / 'visualization' / 'Set5' / '*.png')))
    assert saved == [f'{n}x4_set5_released.png' for n in ('baby', 'bird', 'butterfly', 'head', 'woman')]
    log = open(glob.glob(str(results / 'test_set5_released_*.log'))[0]).read()
    assert 'Converted released IGAN checkpoint' in log
    # The scores basicsr logs (4 decimals) are the released network's, computed here image by image.
    logged = [float(v) for v in re.search(r'Validation Set5\s+# psnr: ([\d.]+).*\s+# ssim: ([\d.]+)', log).groups()]
    net = build_model(dict(opt_dict, is_train=False, dist=False)).net_g
    assert logged == pytest.approx(set5_scores(net), abs=1e-4 + SCORE_TOLERANCE)
