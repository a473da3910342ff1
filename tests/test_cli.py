import glob
import os
import re

import torch
from conftest import released_test_options, run_cli, tiny_train_options, write_yaml


def test_help_lists_the_subcommands(tmp_path):
    proc = run_cli(['basicsr', '--help'], cwd=tmp_path)
    assert proc.stdout.startswith('usage: basicsr [-h] {train,test} ...')
    assert 'basicsr train_pipeline' in proc.stdout and '--force_yml' in proc.stdout
    bare = run_cli(['basicsr'], cwd=tmp_path, check=False)
    assert bare.returncode == 2 and bare.stdout == proc.stdout


def test_missing_option_file_is_one_line(tmp_path):
    proc = run_cli(['basicsr', 'train', '-opt', 'nowhere.yml'], cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == 'basicsr train: error: option file not found: nowhere.yml'


def test_yaml_error_is_one_line(tmp_path):
    (tmp_path / 'broken.yml').write_text('name: x\nnetwork_g: [1,\n')
    proc = run_cli(['basicsr', 'test', '-opt', 'broken.yml'], cwd=tmp_path, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('basicsr test: error: broken.yml (line 3') and 'Traceback' not in proc.stderr


def test_basicsr_train_writes_checkpoint_and_validation_psnr(tmp_path):
    opt_file = write_yaml(tmp_path / 'tiny.yml', tiny_train_options('tiny_igan'))
    run_cli(['basicsr', 'train', '-opt', opt_file], cwd=tmp_path)
    exp = tmp_path / 'experiments' / 'tiny_igan'
    for ckpt in ('net_g_4.pth', 'net_g_latest.pth'):
        params = torch.load(exp / 'models' / ckpt, weights_only=True)['params']
        assert 'body.1.cagm.conv3.weight' in params
    assert (exp / 'training_states' / '4.state').is_file()
    log = open(glob.glob(str(exp / 'train_tiny_igan_*.log'))[0]).read()
    psnr = [float(v) for v in re.findall(r'# psnr: ([\d.]+)', log)]
    assert psnr and all(5 < v < 40 for v in psnr)
    assert glob.glob(str(tmp_path / 'tb_logger' / 'tiny_igan' / 'events.out.tfevents.*'))


def test_python_m_train_runs_the_same_pipeline(tmp_path):
    opt_file = write_yaml(tmp_path / 'tiny.yml', tiny_train_options('tiny_module', iters=2))
    run_cli(['python', '-m', 'igan_basicsr.train', '-opt', opt_file], cwd=tmp_path)
    assert (tmp_path / 'experiments' / 'tiny_module' / 'models' / 'net_g_latest.pth').is_file()


def test_basicsr_test_on_set5_with_a_released_checkpoint(tmp_path):
    opt_file = write_yaml(tmp_path / 'test.yml', released_test_options('set5_released'))
    run_cli(['basicsr', 'test', '-opt', opt_file], cwd=tmp_path)
    results = tmp_path / 'results' / 'set5_released'
    saved = sorted(os.path.basename(p) for p in glob.glob(str(results / 'visualization' / 'Set5' / '*.png')))
    assert saved == [f'{n}x4_set5_released.png' for n in ('baby', 'bird', 'butterfly', 'head', 'woman')]
    log = open(glob.glob(str(results / 'test_set5_released_*.log'))[0]).read()
    assert 'Converted released IGAN checkpoint' in log
    assert re.search(r'Validation Set5\s+# psnr: [\d.]+', log) and re.search(r'# ssim: 0\.\d+', log)
