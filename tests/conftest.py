import contextlib
import glob
import io
import logging
import os
import shutil
import subprocess
import sys
from typing import NamedTuple

import cv2
import numpy as np
import pytest
import torch
import yaml

import igan_basicsr  # noqa: F401  (shims + registries before any basicsr import in a test)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _basicsr_logs_to_file_descriptor_2():
    """basicsr's logger writes to the sys.stderr of its first use. Were that inside a test whose capture (capsys,
    capfd, a script run by `call`) replaces sys.stderr, every later log line of the worker would go to that test's
    closed stream ('--- Logging error ---' in whatever test logs next). Made here, it writes to file descriptor 2,
    which pytest's capture and capfd see."""
    from basicsr.utils import get_root_logger
    for handler in get_root_logger().handlers:
        if type(handler) is logging.StreamHandler:
            handler.setStream(sys.__stderr__)


_basicsr_logs_to_file_descriptor_2()


@pytest.fixture(autouse=True)
def _basicsr_logger_left_as_found():
    """Each test leaves basicsr's logger as it found it. A basicsr pipeline run in a test's process (`basicsr train`
    through `call`) sets it up afresh: a handler writing to that test's captured stderr, closed when the test ends,
    one to its log file, level INFO; every later test of the worker would log into them ('--- Logging error ---')."""
    from basicsr.utils import logger as basicsr_logging
    logger = logging.getLogger('basicsr')
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    initialized = dict(basicsr_logging.initialized_logger)
    yield
    for handler in list(logger.handlers):
        # basicsr's own handler types only: pytest attaches its capture handlers (subclasses) phase by phase.
        if handler not in handlers and type(handler) in (logging.StreamHandler, logging.FileHandler):
            logger.removeHandler(handler)
            if type(handler) is logging.FileHandler:
                handler.close()
    for handler in handlers:
        if handler not in logger.handlers and type(handler) in (logging.StreamHandler, logging.FileHandler):
            logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate
    basicsr_logging.initialized_logger.clear()
    basicsr_logging.initialized_logger.update(initialized)

if os.environ.get('PYTEST_XDIST_WORKER_COUNT'):
    # Under pytest -n N, the cores shared out among the workers, for their own torch and for every process a test
    # starts (trainings, measurements): N workers each running two-thread processes on two cores only wait.
    THREADS = str(max(1, (os.cpu_count() or 1) // int(os.environ['PYTEST_XDIST_WORKER_COUNT'])))
    os.environ.setdefault('OMP_NUM_THREADS', THREADS)
    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))


def pytest_collection_modifyitems(items):
    """The slow tests first: under -n N the long ones start early instead of leaving one worker busy at the end."""
    items.sort(key=lambda item: item.get_closest_marker('slow') is None)


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


class Exited(NamedTuple):
    """What a command left behind: its exit status and what it wrote, as subprocess.run's result names them."""
    returncode: int
    stdout: str
    stderr: str


def call_main(module, argv, capfd, monkeypatch):
    """Run a script's `main(argv)` in this process, as its interpreter would run the file: sys.argv[0] (argparse's
    prog) is the script, SystemExit is its exit status (a message given to sys.exit goes to stderr, status 1).
    The output is what the file descriptors received, the subprocesses' it starts included."""
    monkeypatch.setattr(sys, 'argv', [module.__file__] + list(argv))
    monkeypatch.setenv('COLUMNS', '80')  # argparse's width where the output is not a terminal
    capfd.readouterr()
    try:
        code = module.main(list(argv))
    except SystemExit as exit:
        code = exit.code
    out, err = capfd.readouterr()
    return exit_status(code, out, err)


def run_main(module, argv):
    """call_main for a fixture that serves several tests (no capfd there): what Python code wrote to sys.stdout and
    sys.stderr, not what subprocesses wrote."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = [module.__file__] + list(argv)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = module.main(list(argv))
            except SystemExit as exit:
                code = exit.code
    finally:
        sys.argv = saved
    return exit_status(code, out.getvalue(), err.getvalue())


def exit_status(code, out, err):
    """As the interpreter ends: None is 0, a message given to sys.exit goes to stderr with status 1."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        err, code = err + f'{code}\n', 1
    return Exited(code, out, err)


@pytest.fixture
def call(capfd, monkeypatch):
    """call(module, *argv): `module.main(argv)` run in this process, as call_main runs it."""
    def call(module, *argv):
        return call_main(module, argv, capfd, monkeypatch)
    return call


def ratio_tolerance(a, b, digits=1):
    """How far a ratio printed to 2 decimals, taken from unrounded a and b, can be from a / b when a and b are
    printed to `digits` decimals."""
    half = 0.5 * 10 ** -digits
    return 0.0051 + half / b + half * a / b ** 2


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


# Where a GPU is visible the scripts score with CUDA's convolutions, whose last bits differ from the CPU's and flip
# the uint8 rounding of a few pixels (3e-4 dB on an H100); set5_scores runs on the CPU.
SCORE_TOLERANCE = 1e-3 if torch.cuda.is_available() else 1e-6


def set5_scores(net, scale=4):
    """Mean PSNR/SSIM of `net` on Set5 (Y channel, crop_border = scale), computed here image by image."""
    from basicsr.metrics import calculate_psnr, calculate_ssim
    from basicsr.utils import img2tensor, tensor2img
    psnr, ssim = [], []
    for hr_path in sorted(glob.glob(os.path.join(SET5, 'HR', '*.png'))):
        stem = os.path.splitext(os.path.basename(hr_path))[0]
        lq = cv2.imread(os.path.join(SET5, 'LR_bicubic', f'X{scale}', f'{stem}x{scale}.png'))
        with torch.no_grad():
            sr = tensor2img(net.eval()(img2tensor(lq / 255., bgr2rgb=True, float32=True)[None]))
        hr = cv2.imread(hr_path)
        psnr.append(calculate_psnr(sr, hr, crop_border=scale, test_y_channel=True))
        ssim.append(calculate_ssim(sr, hr, crop_border=scale, test_y_channel=True))
    return float(np.mean(psnr)), float(np.mean(ssim))


def write_yaml(path, opt):
    path.write_text(yaml.safe_dump(opt, sort_keys=False))
    return str(path)


@pytest.fixture(scope='session')
def made_once(tmp_path_factory):
    """made_once(name, make): the folder `make(folder)` filled, made by the first of the pytest-xdist workers to ask
    and read by the others (one run for every worker, where a module-scoped fixture would run once per worker).
    What is in it must only be read."""
    from filelock import FileLock
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        shared = shared.parent  # the workers' base folders' common parent, one per pytest run

    def made_once(name, make):
        folder = shared / name
        with FileLock(str(shared / f'{name}.lock')):
            if not (shared / f'{name}.done').exists():
                if folder.exists():
                    shutil.rmtree(folder)  # a worker that failed while making it
                folder.mkdir()
                make(folder)
                (shared / f'{name}.done').touch()
        return folder
    return made_once


@pytest.fixture
def repo():
    return REPO


# A tiny network (conv, ReLU, conv, pixel shuffle) registered in basicsr's ARCH_REGISTRY, as a plugin package holds it.
PLUGIN_NETWORK = '''
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn


@ARCH_REGISTRY.register()
class {name}(nn.Module):
    def __init__(self, upscale=4, num_feat=8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, num_feat, 3, 1, 1), nn.ReLU(),
                                  nn.Conv2d(num_feat, 3 * upscale ** 2, 3, 1, 1), nn.PixelShuffle(upscale))

    def forward(self, x):
        return self.body(x)
'''


def write_plugin_packages(root, announced, silent):
    """Under `root`, one package per (package, network class) pair: `announced` with a basicsr.plugins entry point
    in a .dist-info as pip writes it, `silent` with none (reached only by --import). Returns str(root)."""
    for package, name in announced + silent:
        (root / package).mkdir()
        (root / package / '__init__.py').write_text(PLUGIN_NETWORK.format(name=name))
    for package, _ in announced:
        info = root / f'{package}-0.1.dist-info'
        info.mkdir()
        (info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n')
        (info / 'entry_points.txt').write_text(f'[basicsr.plugins]\n{package} = {package}\n')
    return str(root)


def plugins_on_path(root, monkeypatch):
    """`root` on sys.path here and on PYTHONPATH for the processes a test starts."""
    monkeypatch.syspath_prepend(root)
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join(filter(None, [root, os.environ.get('PYTHONPATH')])))
    return root
