import os
import re
import shutil
import signal
import subprocess
import sys

import pytest
import torch
from basicsr.data.prefetch_dataloader import CPUPrefetcher
from conftest import run_cli, tiny_train_options, write_yaml

from igan_basicsr.basicsr_fixes.resume import ResumableSampler, load_resume_state

# Set5 at batch 2 and enlarge ratio 2: 5 iterations an epoch, so saves at 8 and 16 fall inside epochs.
ITERS, SAVE_EVERY = 24, 8


def resumable_options(name):
    opt = tiny_train_options(name, iters=ITERS)
    opt['network_g'].update(num_feat=32, num_group=2, num_block=2)
    opt['datasets']['train']['gt_size'] = 96
    opt['train']['scheduler']['milestones'] = [12]
    opt['logger']['save_checkpoint_freq'] = SAVE_EVERY
    opt['val']['val_freq'] = 1000
    return opt


def train_until_killed(cmd, cwd, after_iter):
    """Start a real training run and SIGKILL it once it logs iteration `after_iter`."""
    proc = subprocess.Popen(cmd, cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED='1'))
    for line in proc.stderr:
        m = re.search(r'\[epoch:\s*\d+, iter:\s+([\d,]+)', line)
        if m and int(m[1].replace(',', '')) >= after_iter:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    return proc.returncode


def params(path):
    return torch.load(path, weights_only=True)['params']


@pytest.fixture
def straight(made_once):
    """A run of ITERS iterations never interrupted: its folder (experiments/straight/ and straight.yml), one for
    the tests that read it."""
    def train(root):
        run_cli(['basicsr', 'train', '-opt', write_yaml(root / 'straight.yml', resumable_options('straight'))],
                cwd=root)
    return made_once('straight', train)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path, straight):
    basicsr = os.path.join(os.path.dirname(sys.executable), 'basicsr')
    opt_file = write_yaml(tmp_path / 'killed.yml', resumable_options('killed'))
    code = train_until_killed([basicsr, 'train', '-opt', opt_file], tmp_path, after_iter=SAVE_EVERY + 1)
    assert code == -signal.SIGKILL
    states = tmp_path / 'experiments' / 'killed' / 'training_states'
    assert sorted(os.listdir(states)) == [f'{SAVE_EVERY}.state']

    proc = run_cli(['basicsr', 'train', '-opt', opt_file, '--auto_resume'], cwd=tmp_path)
    assert f'Resuming training from epoch: 1, iter: {SAVE_EVERY}.' in proc.stderr
    assert 'its first 3 batches are skipped' in proc.stderr
    # The scheduler's milestone (12) comes after the resume point: the halved rate proves it was restored.
    assert re.search(r'iter:\s+13, lr:\(5\.000e-05,\)', proc.stderr)
    a = params(straight / 'experiments' / 'straight' / 'models' / 'net_g_latest.pth')
    b = params(tmp_path / 'experiments' / 'killed' / 'models' / 'net_g_latest.pth')
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_truncated_state_is_skipped_with_a_warning(tmp_path, straight):
    # A copy of the uninterrupted run, its newest state cut short as a crash while writing it would leave it.
    shutil.copytree(straight / 'experiments', tmp_path / 'experiments')
    states = tmp_path / 'experiments' / 'straight' / 'training_states'
    assert set(os.listdir(states)) == {f'{i * SAVE_EVERY}.state' for i in (1, 2, 3)}
    latest = states / f'{ITERS}.state'
    latest.write_bytes(latest.read_bytes()[:1000])

    proc = run_cli(['basicsr', 'train', '-opt', str(straight / 'straight.yml'), '--auto_resume', '--force_yml',
                    f'train:total_iter={ITERS + 2}'], cwd=tmp_path)
    assert f'WARNING: skipping training state {latest}' in proc.stderr
    # 5 iterations an epoch: the state of iteration 16 was saved in epoch 3.
    assert f'Resuming training from epoch: 3, iter: {2 * SAVE_EVERY}.' in proc.stderr


def test_auto_resume_looks_under_the_experiment_root_not_the_working_directory(tmp_path, monkeypatch):
    root = tmp_path / 'root'
    states, models = root / 'training_states', root / 'models'
    states.mkdir(parents=True)
    models.mkdir()
    linear = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(linear.parameters())
    for it in (4, 12):
        torch.save({'epoch': 0, 'iter': it, 'optimizers': [optimizer.state_dict()], 'schedulers': []},
                   states / f'{it}.state')
        torch.save({'params': linear.state_dict()}, models / f'net_g_{it}.pth')
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    opt = {'auto_resume': True, 'network_g': {},
           'path': {'training_states': str(states), 'models': str(models), 'resume_state': None}}
    state = load_resume_state(opt)
    assert state['iter'] == 12
    assert opt['path']['resume_state'] == str(states / '12.state')
    assert opt['path']['pretrain_network_g'] == str(models / 'net_g_12.pth')


class Indices(torch.utils.data.Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return i


@pytest.mark.parametrize('workers', [0, 2])
def test_resumed_epoch_skips_its_trained_batches_with_data_loader_workers(workers):
    """basicsr's order: build the prefetcher (it opens an iterator and throws it away), set_epoch, reset."""
    def sampler():
        return ResumableSampler(Indices(), num_replicas=1, rank=0, ratio=2)

    full = sampler()
    full.set_epoch(3)
    epoch = list(full)
    resumed = sampler()
    resumed.resume_epoch, resumed.resume_skip = 3, 3 * 2
    loader = torch.utils.data.DataLoader(Indices(), batch_size=2, sampler=resumed, num_workers=workers,
                                         drop_last=True)
    prefetcher = CPUPrefetcher(loader)
    seen = []
    for e in (3, 4):
        resumed.set_epoch(e)
        prefetcher.reset()
        batches = []
        while (batch := prefetcher.next()) is not None:
            batches += batch.tolist()
        seen.append(batches)
    assert seen[0] == epoch[6:]
    full.set_epoch(4)
    assert seen[1] == list(full)
