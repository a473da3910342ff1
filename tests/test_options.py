import glob
import os
import sys

import pytest
import torch
from basicsr.archs import build_network
from basicsr.utils.options import parse_options
from conftest import REPO

from igan_basicsr.basicsr_fixes.distributed import choose_backend
from igan_basicsr.options import read_option_file

OPTION_FILES = sorted(glob.glob(os.path.join(REPO, 'options', '*.yml')))


def parse(path, monkeypatch, tmp_path, is_train):
    monkeypatch.setattr(sys, 'argv', ['basicsr', '-opt', path])
    opt, _ = parse_options(str(tmp_path), is_train=is_train)
    return opt


def test_there_are_option_files_for_both_scales():
    names = {os.path.basename(p) for p in OPTION_FILES}
    assert {'train_IGAN_x4.yml', 'train_IGAN_x8.yml', 'test_IGAN_x4.yml', 'test_IGAN_x8.yml'} <= names


@pytest.mark.parametrize('path', OPTION_FILES, ids=os.path.basename)
def test_every_option_file_parses_and_builds_its_network(path, monkeypatch, tmp_path):
    opt = parse(path, monkeypatch, tmp_path, is_train=os.path.basename(path).startswith(('train', 'demo')))
    net = build_network(opt['network_g'])
    assert opt['network_g'].get('upscale', opt['scale']) == opt['scale']
    assert sum(p.numel() for p in net.parameters()) > 0


@pytest.mark.parametrize('scale, cagm', [(4, 'pool'), (8, 'wavelet')])
def test_train_options_follow_the_reference_protocol(scale, cagm, monkeypatch, tmp_path):
    opt = parse(os.path.join(REPO, 'options', f'train_IGAN_x{scale}.yml'), monkeypatch, tmp_path, True)
    train = opt['datasets']['train']
    assert train['dataroot_gt'] == 'datasets/DIV2K/DIV2K_train_HR_sub.lmdb'
    assert train['dataroot_lq'] == f'datasets/DIV2K/DIV2K_train_LR_bicubic_X{scale}_sub.lmdb'
    assert train['io_backend']['type'] == 'lmdb'
    assert (train['gt_size'], train['batch_size_per_gpu'], train['use_hflip'], train['use_rot']) == (192, 16, True, True)
    t = opt['train']
    assert t['optim_g']['type'] == 'Adam' and t['optim_g']['lr'] == 1e-4 and t['optim_g']['betas'] == [0.9, 0.99]
    assert t['scheduler']['milestones'] == [200000, 400000, 600000] and t['scheduler']['gamma'] == 0.5
    assert t['total_iter'] == 800000 and t['pixel_opt']['type'] == 'L1Loss'
    assert build_network(opt['network_g']).cagm == cagm
    assert opt['val']['val_freq'] == 5000 and opt['datasets']['val']['name'] == 'Set5'
    for metric in ('psnr', 'ssim'):
        assert opt['val']['metrics'][metric]['crop_border'] == scale
        assert opt['val']['metrics'][metric]['test_y_channel'] is True
    assert opt['logger']['use_tb_logger'] is True


@pytest.mark.parametrize('scale', [4, 8])
def test_test_options_cover_the_five_benchmarks(scale, monkeypatch, tmp_path):
    opt = parse(os.path.join(REPO, 'options', f'test_IGAN_x{scale}.yml'), monkeypatch, tmp_path, False)
    sets = {d['name']: d for d in opt['datasets'].values()}
    assert list(sets) == ['Set5', 'Set14', 'B100', 'Urban100', 'Manga109']
    for name, d in sets.items():
        assert d['dataroot_gt'] == f'datasets/benchmark/{name}/HR'
        assert d['dataroot_lq'] == f'datasets/benchmark/{name}/LR_bicubic/X{scale}'
        assert d['filename_tmpl'] == f'{{}}x{scale}'
    assert opt['val']['save_img'] is True


@pytest.mark.parametrize('scale', [4, 8])
def test_reference_train_options_take_the_machine_s_backend(scale):
    """`scripts/dist_train.sh N options/train_IGAN_x{4,8}.yml` must run where no GPU is visible (gloo)."""
    opt = read_option_file(os.path.join(REPO, 'options', f'train_IGAN_x{scale}.yml'))
    backend = choose_backend(opt['dist_params']['backend'], opt.get('num_gpu', 'auto'))
    assert backend == ('nccl' if torch.cuda.is_available() else 'gloo')
