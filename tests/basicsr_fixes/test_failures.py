"""A real `basicsr train` that meets damaged data mid-run: one line naming the key and the LMDB, the training
states kept, and the run resumable with the command the line gives."""
import glob
import os
import shlex
import shutil

import lmdb
import torch
from conftest import SET5, run_cli, tiny_train_options, write_yaml

from igan_basicsr.prepare.div2k_lmdb import prepare_div2k_lmdb
from igan_basicsr.prepare.images import undecodable
from igan_basicsr.prepare.lmdb_images import read_meta_info
from igan_basicsr.prepare.subimages import Grid


def put(folder, key, value):
    env = lmdb.open(folder)
    with env.begin(write=True) as txn:
        old = txn.get(key.encode())
        txn.put(key.encode(), value)
    env.close()
    return old


def test_a_value_that_fails_to_decode_mid_run_stops_it_resumable(tmp_path):
    root = tmp_path / 'DIV2K'
    (root / 'DIV2K_train_HR').mkdir(parents=True)
    shutil.copy(os.path.join(SET5, 'HR', 'woman.png'), root / 'DIV2K_train_HR' / '0001.png')
    gt, lq = prepare_div2k_lmdb(str(root), (4, ), grid=Grid(96, 48), workers=1)
    opt = tiny_train_options('midrun', iters=4)
    opt['datasets']['train'].update(dataroot_gt=gt, dataroot_lq=lq, io_backend={'type': 'lmdb'}, filename_tmpl='{}',
                                    batch_size_per_gpu=1, dataset_enlarge_ratio=1)
    opt['logger']['save_checkpoint_freq'] = 2
    opt_file = write_yaml(tmp_path / 'midrun.yml', opt)
    # basicsr's sampler shuffles epoch e with seed e: at batch size 1 the third sample is iteration 3's, after
    # the state of iteration 2 is saved.
    keys = [key for key, _ in read_meta_info(lq)]
    bad = keys[torch.randperm(len(keys), generator=torch.Generator().manual_seed(0))[2]]
    env = lmdb.open(lq, readonly=True, lock=False)
    with env.begin() as txn:
        value = txn.get(bad.encode())
    env.close()
    put(lq, bad, value[:len(value) // 2])

    proc = run_cli(['basicsr', 'train', '-opt', opt_file], cwd=tmp_path, check=False)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    resume = shlex.join(['basicsr', 'train', '-opt', opt_file, '--auto_resume'])
    assert proc.stderr.strip().splitlines()[-1] == (
        f'basicsr train: error: {bad} in {lq}: the stored value does not decode as an image '
        f'({undecodable(value[:len(value) // 2])}): the LMDB is damaged; rebuild it (training states are kept in '
        f'experiments/midrun, the last at iteration 2; resume with: {resume})')
    states = tmp_path / 'experiments' / 'midrun' / 'training_states'
    assert os.listdir(states) == ['2.state'] and (tmp_path / 'tb_logger' / 'midrun').is_dir()

    put(lq, bad, value)
    run_cli(shlex.split(resume), cwd=tmp_path)
    log = sorted(glob.glob(str(tmp_path / 'experiments' / 'midrun' / 'train_midrun_*.log')))[-1]
    assert 'Resuming training from epoch: 0, iter: 2.' in open(log).read()
    assert sorted(os.listdir(states)) == ['2.state', '4.state']
