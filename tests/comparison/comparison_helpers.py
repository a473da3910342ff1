"""What the comparison tests share: tiny networks and their option files, plugin packages, a short training base, a
CSV and PNG reader, and MATLAB bicubic's Set5 scores computed here."""
import contextlib
import csv
import glob
import json
import os

import cv2
import pytest
import torch
from basicsr.archs import build_network
from basicsr.metrics import calculate_psnr, calculate_ssim
from conftest import FIXTURES, SET5, Exited, plugins_on_path, run_main, set5_dataset, write_plugin_packages, write_yaml

from igan_basicsr.plugins import load_plugins
from igan_basicsr.prepare.bicubic import bicubic_upscale

RELEASED_X4 = os.path.join(FIXTURES, 'official_x4_g2b2.pth')
IGAN_G2B2 = {'type': 'IGAN', 'upscale': 4, 'num_group': 2, 'num_block': 2}
RCAN_TINY = {'type': 'RCAN', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_group': 2, 'num_block': 2,
             'upscale': 4}
EDSR_TINY = {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_block': 2, 'upscale': 4}
IGAN_TINY = {'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 1, 'num_block': 1}
# `eco_announced` registers its network and announces it (a basicsr.plugins entry point), `eco_silent` only registers
# it: --import reaches it.
ANNOUNCED, SILENT = ('eco_announced', 'EcoAnnouncedNet'), ('eco_silent', 'EcoSilentNet')
IMPORT_REFUSED = ("error: --import no_such_eco_plugin: cannot import it (No module named 'no_such_eco_plugin'); "
                  'install the package that provides it, or put its folder on PYTHONPATH.\n')


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def png_size(path):
    """(width, height) of a PNG file, which must decode: the figures are saved at 120 dpi, so their size in inches
    (a panel's width times the panels) shows in it."""
    image = cv2.imread(str(path))
    assert image is not None, f'{path} is no image'
    return image.shape[1], image.shape[0]


def plugin_root(made_once):
    """The folder of the packages `eco_announced` and `eco_silent`, written once per test run."""
    return str(made_once('eco_plugins', lambda folder: write_plugin_packages(folder, [ANNOUNCED], [SILENT])))


def plugin_packages(made_once, monkeypatch):
    """plugin_root on sys.path here and on PYTHONPATH for the processes a test starts."""
    return plugins_on_path(plugin_root(made_once), monkeypatch)


def plugin_options(folder, arch, seed=0, weights=True):
    """An option file of the plugin network `arch` and, with `weights`, a checkpoint of its layers (made through a
    network of the same layers built here: building `arch` itself would register its package in this process)."""
    net = {'type': arch, 'upscale': 4, 'num_feat': 8}
    path = {'pretrain_network_g': None}
    if weights:
        load_plugins()
        torch.manual_seed(seed)
        path['pretrain_network_g'] = str(folder / f'{arch}_{seed}.pth')
        torch.save({'params': build_network(dict(net, type=ANNOUNCED[1])).state_dict()}, path['pretrain_network_g'])
    return write_yaml(folder / f'{arch}.yml', {'name': arch, 'model_type': 'SwitchSRModel', 'scale': 4,
                                               'network_g': net, 'path': path})


def model_options(folder, name, network, model_type='IGANModel', **extra):
    """<folder>/<name>.yml: a model of the comparison, named `name`."""
    return write_yaml(folder / f'{name}.yml', {'name': name, 'model_type': model_type, 'network_g': network, **extra})


def set5_bicubic():
    """{image: (PSNR, SSIM)} of MATLAB bicubic upscaling of Set5's x4 LR images, computed here."""
    scores = {}
    for hr_path in sorted(glob.glob(os.path.join(SET5, 'HR', '*.png'))):
        stem = os.path.splitext(os.path.basename(hr_path))[0]
        sr = bicubic_upscale(cv2.imread(os.path.join(SET5, 'LR_bicubic', 'X4', f'{stem}x4.png')), 4)
        hr = cv2.imread(hr_path)
        scores[stem] = (calculate_psnr(sr, hr, crop_border=4, test_y_channel=True),
                        calculate_ssim(sr, hr, crop_border=4, test_y_channel=True))
    return scores


def budget_base(folder, iters=3, save_every=None):
    """A --base of `iters` iterations on Set5's images (--train-root replaces them), batch 2 of 32x32 patches, L1,
    Adam, the learning rate halved at iteration 100; a checkpoint every `save_every` iterations (default: at the
    end)."""
    train = set5_dataset(gt_size=32, use_hflip=True, use_rot=True, num_worker_per_gpu=0, batch_size_per_gpu=2,
                         dataset_enlarge_ratio=2, prefetch_mode=None)
    return write_yaml(folder / 'base.yml', {
        'scale': 4, 'num_gpu': 0, 'datasets': {'train': train}, 'path': {'pretrain_network_g': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.99]},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5},
                  'total_iter': iters, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': save_every or iters, 'use_tb_logger': False},
    })


@contextlib.contextmanager
def working_in(folder, plugins=None):
    """The block run as a comparison runs: in `folder` (its results/, experiments/, tb_logger/ go there), one thread
    per process it starts, and the plugin folder `plugins` importable."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv('OMP_NUM_THREADS', '1')
        if plugins:
            plugins_on_path(plugins, patch)
        yield


def run_script(folder, stem, module, *argv):
    """`module.main(argv)` run in this process (conftest.run_main), its exit status and output kept in
    <folder>/<stem>.json for the tests that read a run made once."""
    done = run_main(module, [str(a) for a in argv])
    (folder / f'{stem}.json').write_text(json.dumps(done._asdict()))
    return done


def script_run(folder, stem):
    """What run_script kept of a run."""
    return Exited(**json.loads((folder / f'{stem}.json').read_text()))
