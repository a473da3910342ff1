import os
import subprocess
import sys

import pytest
import yaml

import igan_basicsr  # noqa: F401  (shims + registries before any basicsr import in a test)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_dir():
    """The shared data: $IGAN_SHARED, else ../shared beside the checkout."""
    path = os.environ.get('IGAN_SHARED') or os.path.join(REPO, '..', 'shared')
    if not os.path.isdir(os.path.join(path, 'datasets', 'Set5')):
        raise RuntimeError(f'shared data not found at {path}: set IGAN_SHARED to the folder that holds '
                           'datasets/Set5 and fixtures/official_igan')
    return os.path.abspath(path)


SHARED = shared_dir()
FIXTURES = os.path.join(SHARED, 'fixtures', 'official_igan')
SET5 = os.path.join(SHARED, 'datasets', 'Set5')


def run_cli(args, cwd, timeout=600, check=True, env=None):
    """Run a console command of ours (a script in the venv's bin) or `python -m ...` and capture its output."""
    exe = args[0]
    if exe == 'python':
        cmd = [sys.executable] + args[1:]
    else:
        cmd = [os.path.join(os.path.dirname(sys.executable), exe)] + args[1:]
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f'{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\n'
                             f'stderr:\n{proc.stderr[-4000:]}')
    return proc


def set5_dataset(scale=4, **extra):
    return dict(name='Set5', type='PairedImageDataset', dataroot_gt=os.path.join(SET5, 'HR'),
                dataroot_lq=os.path.join(SET5, 'LR_bicubic', f'X{scale}'), filename_tmpl=f'{{}}x{scale}',
                io_backend={'type': 'disk'}, **extra)


def released_test_options(name, **val):
    """`basicsr test` of the released-format x4 fixture on Set5, PSNR and SSIM on Y; `val` adds test options."""
    metrics = {m: {'type': f'calculate_{m}', 'crop_border': 4, 'test_y_channel': True} for m in ('psnr', 'ssim')}
    return {
        'name': name, 'model_type': 'IGANModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'test_1': set5_dataset()},
        'network_g': {'type': 'IGAN', 'upscale': 4, 'num_group': 2, 'num_block': 2},
        'path': {'pretrain_network_g': os.path.join(FIXTURES, 'official_x4_g2b2.pth'), 'strict_load_g': True},
        'val': dict({'save_img': True, 'suffix': None, 'metrics': metrics}, **val),
    }


def tiny_train_options(name, iters=4):
    train = set5_dataset(gt_size=32, use_hflip=True, use_rot=True, num_worker_per_gpu=0,
                         batch_size_per_gpu=2, dataset_enlarge_ratio=2, prefetch_mode=None)
    return {
        'name': name, 'model_type': 'IGANModel', 'scale': 4, 'num_gpu': 0, 'manual_seed': 1,
        'datasets': {'train': train, 'val': set5_dataset()},
        'network_g': {'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 2, 'num_block': 1},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-4, 'betas': [0.9, 0.99]},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5},
                  'total_iter': iters, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'val': {'val_freq': iters, 'save_img': False,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True}}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': iters, 'use_tb_logger': True},
    }


def write_yaml(path, opt):
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return str(path)


@pytest.fixture
def repo():
    return REPO
