import os
import re
import socket
import subprocess
import sys

import pytest
import torch
from conftest import REPO, SET5, run_cli, tiny_train_options, write_yaml

from igan_basicsr.prepare.div2k_lmdb import HR_FOLDER, hr_lmdb_name, lr_lmdb_name, prepare_div2k_lmdb
from igan_basicsr.prepare.subimages import Grid

ENTRY = os.path.join(REPO, 'tests', 'basicsr_fixes', 'ddp_train_and_dump.py')
BIN = os.path.dirname(sys.executable)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def lmdb_root(tmp_path_factory):
    """Training LMDBs as users make them: prepare_div2k_lmdb over two Set5 photographs (128 sub-images)."""
    root = tmp_path_factory.mktemp('div2k')
    (root / HR_FOLDER).mkdir()
    for i, name in enumerate(('baby', 'woman'), 1):
        os.symlink(os.path.join(SET5, 'HR', f'{name}.png'), root / HR_FOLDER / f'{i:04d}.png')
    prepare_div2k_lmdb(str(root), (4,), grid=Grid(96, 48), workers=1)
    return root


@pytest.fixture
def ddp_options(lmdb_root):
    def options(name):
        opt = tiny_train_options(name, iters=6)
        opt['datasets']['train'].update(dataroot_gt=str(lmdb_root / hr_lmdb_name()),
                                        dataroot_lq=str(lmdb_root / lr_lmdb_name(4)), filename_tmpl='{}',
                                        io_backend={'type': 'lmdb'})
        opt['logger']['save_checkpoint_freq'] = 6
        return opt
    return options


def check_ranks_agree(tmp_path, name, world_size):
    exp = tmp_path / 'experiments'
    assert sorted(os.listdir(exp)) == [name]
    saved = torch.load(exp / name / 'models' / 'net_g_latest.pth', weights_only=True)['params']
    ranks = [torch.load(tmp_path / 'dump' / f'rank{r}.pth', weights_only=True) for r in range(world_size)]
    for state in ranks:
        assert state.keys() == saved.keys()
        assert all(torch.equal(state[k], saved[k]) for k in saved)
    log = open(next((exp / name).glob('train_*.log'))).read()
    assert f'World size (gpu number): {world_size}' in log
    assert 'Number of train images: 128\n' in log
    assert 'iter:       6,' in log


@pytest.mark.slow
@pytest.mark.parametrize('speed', [{}, {'channels_last': True}], ids=['float32', 'channels_last'])
def test_torchrun_two_cpu_processes_train_in_sync(tmp_path, ddp_options, speed):
    (tmp_path / 'dump').mkdir()
    opt_file = write_yaml(tmp_path / 'ddp.yml', dict(ddp_options('ddp'), **speed))
    run_cli(['torchrun', '--nproc_per_node=2', f'--master_port={free_port()}', ENTRY, str(tmp_path / 'dump'),
             '-opt', opt_file, '--launcher', 'pytorch'], cwd=tmp_path)
    check_ranks_agree(tmp_path, 'ddp', 2)


@pytest.mark.slow
def test_two_nodes_rendezvous_through_c10d(tmp_path, ddp_options):
    (tmp_path / 'dump').mkdir()
    opt_file = write_yaml(tmp_path / 'nodes.yml', ddp_options('nodes'))
    endpoint = f'127.0.0.1:{free_port()}'
    nodes = [subprocess.Popen([os.path.join(BIN, 'torchrun'), '--nnodes=2', f'--node_rank={rank}',
                               '--nproc_per_node=1', '--rdzv_backend=c10d', f'--rdzv_endpoint={endpoint}', ENTRY,
                               str(tmp_path / 'dump'), '-opt', opt_file, '--launcher', 'pytorch'],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    outputs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    check_ranks_agree(tmp_path, 'nodes', 2)


@pytest.mark.slow
@pytest.mark.parametrize('launcher', ['basicsr-script', 'torch.distributed.launch'])
def test_other_launch_forms(tmp_path, ddp_options, launcher):
    opt_file = write_yaml(tmp_path / 'launch.yml', ddp_options('launch'))
    port = f'--master_port={free_port()}'
    if launcher == 'basicsr-script':
        cmd = ['torchrun', '--nproc_per_node=2', port, os.path.join(BIN, 'basicsr'), 'train']
    else:
        cmd = ['python', '-m', 'torch.distributed.launch', '--nproc_per_node=2', port, '-m', 'igan_basicsr.train']
    run_cli(cmd + ['-opt', opt_file, '--launcher', 'pytorch'], cwd=tmp_path)
    exp = tmp_path / 'experiments' / 'launch'
    assert (exp / 'models' / 'net_g_latest.pth').is_file()
    # One run over two processes (basicsr logs the options with the process group's size), not two runs of one.
    [log] = exp.glob('train_launch_*.log')
    assert re.search(r'^\s+world_size: 2$', log.read_text(), re.M)


@pytest.mark.slow
def test_slurm_launcher_maps_slurm_variables(tmp_path, ddp_options):
    """Two tasks as srun would start them (SLURM_* set, one node), through basicsr's --launcher slurm."""
    (tmp_path / 'dump').mkdir()
    opt = ddp_options('slurm')
    opt['dist_params'] = {'backend': 'gloo', 'port': free_port()}
    opt_file = write_yaml(tmp_path / 'slurm.yml', opt)
    tasks = []
    for rank in (0, 1):
        env = dict(os.environ, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NTASKS='2',
                   SLURM_NODELIST='localhost', MASTER_ADDR='127.0.0.1', PYTHONUNBUFFERED='1')
        tasks.append(subprocess.Popen([sys.executable, ENTRY, str(tmp_path / 'dump'), '-opt', opt_file,
                                       '--launcher', 'slurm'], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outputs = [task.communicate(timeout=300)[0] for task in tasks]
    assert [task.returncode for task in tasks] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    check_ranks_agree(tmp_path, 'slurm', 2)


def test_ranks_read_disjoint_samples_and_resume_skips_what_was_read():
    from igan_basicsr.basicsr_fixes.resume import ResumableSampler
    dataset = list(range(10))
    ranks = [list(ResumableSampler(dataset, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 5
    assert sorted(ranks[0] + ranks[1]) == dataset
    sampler = ResumableSampler(dataset, num_replicas=2, rank=1)
    sampler.skip = 4
    assert list(sampler) == ranks[1][4:]
    assert list(sampler) == ranks[1]
