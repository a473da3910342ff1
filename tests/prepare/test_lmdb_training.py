import glob
import os
import re

import pytest
import torch
from conftest import REPO, SET5, run_cli

from scripts.data_preparation import prepare_benchmark, prepare_div2k_lmdb

SUB_IMAGES = 100 + 28  # baby and woman at crop 96 / step 48, as tests/prepare/test_div2k_lmdb.py counts them


@pytest.mark.slow
def test_the_reference_train_options_train_from_the_prepared_data(tmp_path, call, monkeypatch):
    """options/train_IGAN_x4.yml, paths untouched, reads what the two prepare scripts write (shrunk to a CPU run)."""
    monkeypatch.chdir(tmp_path)
    hr_dir = tmp_path / 'datasets' / 'DIV2K' / 'DIV2K_train_HR'
    hr_dir.mkdir(parents=True)
    for i, name in enumerate(('baby', 'woman'), 1):
        os.symlink(os.path.join(SET5, 'HR', f'{name}.png'), hr_dir / f'{i:04d}.png')
    assert call(prepare_div2k_lmdb, '--root', 'datasets/DIV2K', '--crop', '96', '--step', '48',
                '--workers', '1').returncode == 0
    assert call(prepare_benchmark, '--hr', os.path.join(SET5, 'HR'), '--out', 'datasets/benchmark/Set5',
                '--scales', '4').returncode == 0
    shrink = ['num_gpu=0', 'network_g:num_feat=16', 'network_g:num_group=1', 'network_g:num_block=1',
              'datasets:train:gt_size=32', 'datasets:train:batch_size_per_gpu=2',
              'datasets:train:num_worker_per_gpu=0', 'train:total_iter=2', 'logger:print_freq=1',
              'logger:save_checkpoint_freq=2', 'logger:use_tb_logger=false']
    run_cli(['basicsr', 'train', '-opt', os.path.join(REPO, 'options', 'train_IGAN_x4.yml'), '--force_yml'] + shrink,
            cwd=tmp_path)
    exp = tmp_path / 'experiments' / 'train_IGAN_x4'
    assert 'params' in torch.load(exp / 'models' / 'net_g_2.pth', weights_only=True)
    log = open(glob.glob(str(exp / 'train_train_IGAN_x4_*.log'))[0]).read()
    assert f'Number of train images: {SUB_IMAGES}\n' in log
    assert re.search(r'Validation Set5\s+# psnr: [\d.]+', log)
