import os
import subprocess
import sys

import pytest

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


@pytest.fixture
def repo():
    return REPO
