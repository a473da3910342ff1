"""igan_basicsr.options: values, names, arguments and data checked before `basicsr train|test` creates anything;
each problem one line naming the key (or file), exit status 1, nothing written. In-process runs of the command
(cli.main)."""
import logging
import os
import shutil

import lmdb
import pytest
import torch
import yaml
from basicsr.data import build_dataset
from basicsr.utils import logger as basicsr_logger
from conftest import SET5, released_test_options, set5_dataset, tiny_train_options, write_yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from igan_basicsr import cli
from igan_basicsr.archs.igan_arch import IGAN
from igan_basicsr.comparison.measure import benchmark_dataset
from igan_basicsr.options import OptionError, choose_backend, read_option_file
from igan_basicsr.prepare.div2k_lmdb import prepare_div2k_lmdb
from igan_basicsr.prepare.images import undecodable
from igan_basicsr.prepare.subimages import Grid


@pytest.fixture
def basicsr(tmp_path, call, monkeypatch):
    """basicsr(command, options or option file, *argv): `basicsr COMMAND -opt FILE *argv` in this process, in
    tmp_path, with basicsr's logger set up afresh (it is set up once per process, writing to the stderr and the
    log file of the first run)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(basicsr_logger, 'initialized_logger', {})
    for handler in logging.getLogger('basicsr').handlers[:]:
        logging.getLogger('basicsr').removeHandler(handler)

    def basicsr(command, opt, *argv):
        path = opt if isinstance(opt, str) else write_yaml(tmp_path / 'opt.yml', opt)
        return call(cli, command, '-opt', path, *argv)
    return basicsr


def refused(proc, tmp_path, command='train'):
    """The error lines of a run refused before it wrote anything, less `basicsr COMMAND: error: FILE: `."""
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert not any((tmp_path / d).exists() for d in ('experiments', 'tb_logger', 'results'))
    prefix = f'basicsr {command}: error: {tmp_path / "opt.yml"}: '
    lines = [line for line in proc.stderr.strip().splitlines() if ': note: ' not in line]
    assert lines and all(line.startswith(prefix) for line in lines), proc.stderr
    return [line[len(prefix):] for line in lines]


def test_numbers_written_as_researchers_write_them_train_as_numbers(tmp_path, basicsr):
    opt = tiny_train_options('numbers', iters=4)
    opt['val']['val_freq'] = 2
    path = tmp_path / 'numbers.yml'
    path.write_text(yaml.safe_dump(opt, sort_keys=False).replace('lr: 0.0001', 'lr: 5e-4'))
    assert read_option_file(str(path))['train']['optim_g']['lr'] == '5e-4'  # YAML 1.1's reading
    proc = basicsr('train', str(path), '--force_yml', 'train:scheduler:gamma=5e-1', 'logger:save_checkpoint_freq=4e0')
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = torch.load(tmp_path / 'experiments' / 'numbers' / 'training_states' / '4.state', weights_only=True)
    assert state['optimizers'][0]['param_groups'][0]['lr'] == 5e-4 and state['schedulers'][0]['gamma'] == 0.5
    # One validation per val_freq and none after the last iteration: basicsr's own loop validates again at 6.
    events = EventAccumulator(str(tmp_path / 'tb_logger' / 'numbers'))
    events.Reload()
    assert [e.step for e in events.Scalars('metrics/Set5/psnr')] == [2, 4]


@pytest.mark.parametrize('argv, edit, line', [
    (['--force_yml', 'train:total_iter=abc'], {}, "train.total_iter: 'abc' is not an integer >= 1."),
    ([], {'gt_size': -5}, 'datasets.train.gt_size: -5 is not an integer >= 1.'),
    (['--force_yml', 'train:optim_g:lr=-1e-4'], {}, "train.optim_g.lr: '-1e-4' is not a number >= 0."),
    ([], {'batch_size_per_gpu': 0}, 'datasets.train.batch_size_per_gpu: 0 is not an integer >= 1.'),
])
def test_a_value_of_the_wrong_kind_or_range_is_one_line(tmp_path, basicsr, argv, edit, line):
    opt = tiny_train_options('values')
    opt['datasets']['train'].update(edit)
    assert refused(basicsr('train', opt, *argv), tmp_path) == [line]


def rename(section, old, new):
    section[new] = section.pop(old)


@pytest.mark.parametrize('edit, lines', [
    (lambda o: rename(o, 'network_g', 'netwrok_g'), ['netwrok_g: unknown key; did you mean network_g?']),
    (lambda o: rename(o['network_g'], 'num_feat', 'num_feats'), [
        'network_g.num_feats: IGAN has no argument num_feats; did you mean num_feat? It takes: num_in_ch, '
        'num_out_ch, num_feat, num_group, num_block, upscale, cagm, attention, img_range, rgb_mean.']),
    (lambda o: rename(o['val'], 'val_freq', 'val_freqq'), ['val.val_freqq: unknown key; did you mean val_freq?']),
    (lambda o: o.update(print_freq=1), ['print_freq: unknown key here; it goes under logger.']),
    (lambda o: o['train']['optim_g'].update(beta=[0.9, 0.99]), [
        'train.optim_g.beta: Adam has no argument beta; did you mean betas? It takes: lr, betas, eps, weight_decay, '
        'amsgrad, foreach, maximize, capturable, differentiable, fused, decoupled_weight_decay.']),
    (lambda o: o.update(model_type='SRModel', channels_last=True), [
        'channels_last: unknown key; the top level takes: auto_resume, datasets, dist, dist_params, '
        'find_unused_parameters, is_train, logger, manual_seed, model_type, name, network_g, num_gpu, path, rank, '
        'root_path, scale, train, val, world_size.']),
    (lambda o: o['network_g'].update(num_feat=30), [
        'network_g: IGAN: num_feat=30 must be a positive multiple of 4 (the CAGM narrows to num_feat/2 and '
        'num_feat/4 channels).']),
])
def test_unknown_keys_are_named_with_the_closest_known_one(tmp_path, basicsr, edit, lines):
    opt = tiny_train_options('names')
    edit(opt)
    assert refused(basicsr('train', opt), tmp_path) == lines


def test_keys_basicsr_writes_or_reads_in_other_runs_are_accepted(tmp_path, basicsr, monkeypatch):
    opt = tiny_train_options('accepted')
    opt.update(is_train=False, rank=3, channels_last=False)  # basicsr's own; a SwitchSRModel switch
    opt['datasets']['val'].update(gt_size=48, use_hflip=False, phase='x')  # train-only keys in a validation set
    opt['val'].update(suffix=None, tile=None)
    opt['logger']['wandb'] = {'project': None, 'resume_id': None}
    opt['dist_params'] = {'backend': 'auto', 'port': 29500}
    ran = []
    monkeypatch.setattr('basicsr.train.train_pipeline', lambda root: ran.append(root))
    proc = basicsr('train', opt)
    assert proc.returncode == 0 and ran == [str(tmp_path)], proc.stderr


@pytest.fixture(scope='module')
def x4_lmdbs(tmp_path_factory):
    """HR and X4 LMDBs of one Set5 photograph (woman) on a 96-pixel grid: 28 keys, HR 96x96, LR 24x24."""
    root = tmp_path_factory.mktemp('div2k')
    (root / 'DIV2K_train_HR').mkdir()
    shutil.copy(os.path.join(SET5, 'HR', 'woman.png'), root / 'DIV2K_train_HR' / '0001.png')
    gt, lq = prepare_div2k_lmdb(str(root), (4, ), grid=Grid(96, 48), workers=1)
    return gt, lq


def lmdb_training(name, gt, lq, scale=4):
    opt = tiny_train_options(name)
    opt.update(scale=scale)
    opt['network_g']['upscale'] = scale
    opt['datasets']['train'].update(dataroot_gt=gt, dataroot_lq=lq, io_backend={'type': 'lmdb'}, filename_tmpl='{}',
                                    gt_size=8 * scale)
    opt['datasets']['val'] = set5_dataset(scale)
    opt['val']['metrics']['psnr']['crop_border'] = scale
    return opt


def test_an_x8_run_on_x4_lmdbs_names_both(tmp_path, basicsr, x4_lmdbs):
    gt, lq = x4_lmdbs
    assert refused(basicsr('train', lmdb_training('x8', gt, lq, scale=8)), tmp_path) == [
        f'datasets.train.dataroot_lq: {lq} (24x24) is x4 data for {gt} (96x96), but scale is 8.']


def copied(folder, tmp_path):
    copy = tmp_path / os.path.basename(folder)
    shutil.copytree(folder, copy)
    return str(copy)


def test_a_truncated_data_mdb_is_named_before_training(tmp_path, basicsr, x4_lmdbs):
    gt = copied(x4_lmdbs[0], tmp_path)
    env = lmdb.open(gt, readonly=True, lock=False)
    needed = (env.info()['last_pgno'] + 1) * env.stat()['psize']
    env.close()
    data = os.path.join(gt, 'data.mdb')
    os.truncate(data, needed // 2)
    assert refused(basicsr('train', lmdb_training('cut', gt, x4_lmdbs[1])), tmp_path) == [
        f'datasets.train.dataroot_gt: {data} is {needed // 2} bytes but its header says {needed}: the file is '
        'truncated (an interrupted copy?); copy it again or rebuild it.']


def test_meta_info_keys_missing_from_the_database_are_named(tmp_path, basicsr, x4_lmdbs):
    gt, lq = (copied(folder, tmp_path) for folder in x4_lmdbs)
    for folder, side in ((gt, 96), (lq, 24)):
        with open(os.path.join(folder, 'meta_info.txt'), 'a') as f:
            f.write(f'0001_s999.png ({side},{side},3) 1\n')
    assert refused(basicsr('train', lmdb_training('keys', gt, lq)), tmp_path) == [
        f'datasets.train.{key}: {folder}/meta_info.txt lists 1 key that {folder}/data.mdb does not hold '
        '(0001_s999): the database is incomplete; copy it again or rebuild it.' for key, folder in
        (('dataroot_gt', gt), ('dataroot_lq', lq))]


def damaged_set5(tmp_path):
    """A copy of Set5 whose HR bird.png is cut after its header, and with a text file among the HR images."""
    bench = tmp_path / 'Set5'
    shutil.copytree(SET5, bench)
    bird = bench / 'HR' / 'bird.png'
    data = bird.read_bytes()
    bird.write_bytes(data[:len(data) // 2])
    (bench / 'HR' / 'README.txt').write_text('Set5, from the SRCNN page\n')
    return bench, undecodable(data[:len(data) // 2])


def test_a_benchmark_image_that_does_not_decode_stops_basicsr_test_before_any_model_runs(tmp_path, basicsr):
    bench, reason = damaged_set5(tmp_path)
    opt = released_test_options('damaged')
    opt['datasets']['test_1'].update(dataroot_gt=str(bench / 'HR'), dataroot_lq=str(bench / 'LR_bicubic' / 'X4'))
    proc = basicsr('test', opt)
    assert refused(proc, tmp_path, 'test') == [
        f'datasets.test_1: cannot read image {bench}/HR/bird.png: it does not decode ({reason}); replace it.']
    assert f'basicsr test: note: {tmp_path / "opt.yml"}: datasets.test_1: skipping {bench}/HR/README.txt: not ' \
           'images, or LR images without an HR image.' in proc.stderr.splitlines()


def test_only_runs_the_named_test_sets_and_skips_files_that_are_not_images(tmp_path, basicsr):
    bench = tmp_path / 'Set5'
    shutil.copytree(SET5, bench)
    (bench / 'HR' / 'Thumbs.db').write_bytes(b'\0' * 64)
    opt = released_test_options('only')
    opt['datasets']['test_1'].update(dataroot_gt=str(bench / 'HR'), dataroot_lq=str(bench / 'LR_bicubic' / 'X4'))
    opt['datasets']['test_2'] = dict(opt['datasets']['test_1'], name='Urban100', dataroot_gt='nowhere/HR')
    assert refused(basicsr('test', opt, '--only', 'Set15'), tmp_path, 'test') == [
        '--only Set15: the option file has no test set named Set15; did you mean Set5?']
    proc = basicsr('test', opt, '--only', 'Set5')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'skipping {bench}/HR/Thumbs.db: not images' in proc.stderr
    saved = tmp_path / 'results' / 'only' / 'visualization'
    assert sorted(os.listdir(saved)) == ['Set5'] and len(os.listdir(saved / 'Set5')) == 5


def test_the_comparison_pre_check_decodes_every_image(tmp_path, capfd):
    bench, reason = damaged_set5(tmp_path)
    with pytest.raises(OptionError) as err:
        benchmark_dataset(str(bench), 4)
    assert str(err.value) == (f'{bench}: cannot read image {bench}/HR/bird.png: it does not decode ({reason}); '
                              'replace it (scripts/data_preparation/prepare_benchmark.py writes this layout from HR '
                              'images).')
    shutil.copy(os.path.join(SET5, 'HR', 'bird.png'), bench / 'HR' / 'bird.png')
    capfd.readouterr()
    dataset = benchmark_dataset(str(bench), 4)
    assert capfd.readouterr().err == (f'note: {bench}: skipping {bench}/HR/README.txt: not images, or LR images '
                                      'without an HR image.\n')
    assert len(build_dataset(dataset)) == 5


@pytest.mark.parametrize('debug', [False, True])
def test_a_checkpoint_of_another_scale_says_so_and_the_run_leaves_nothing(tmp_path, basicsr, debug):
    torch.save({'params': IGAN(num_feat=16, num_group=1, num_block=1, upscale=8).state_dict()}, tmp_path / 'x8.pth')
    opt = tiny_train_options('ckpt')
    opt['network_g']['num_group'] = 1
    opt['path']['pretrain_network_g'] = str(tmp_path / 'x8.pth')
    name = 'debug_ckpt' if debug else 'ckpt'
    if not debug:  # an experiment of that name from before: moved aside by basicsr, put back after the failure
        (tmp_path / 'experiments' / name).mkdir(parents=True)
        (tmp_path / 'experiments' / name / 'notes.txt').write_text('mine')
    proc = basicsr('train', opt, *(['--debug'] if debug else []))
    assert proc.returncode == 1
    removed = f'experiments/{name}, tb_logger' if not debug else 'experiments'
    assert proc.stderr.strip().splitlines()[-1] == (
        f'basicsr train: error: {tmp_path}/x8.pth: this is an x8 IGAN checkpoint (num_feat 16, num_group 1, '
        'num_block 1), but network_g builds an x4 IGAN (num_feat 16, num_group 1, num_block 1); set scale and '
        f'network_g to match it, or load a checkpoint made for network_g. (removed {removed}: created by this run)')
    assert ('Traceback' in proc.stderr) == debug
    assert not (tmp_path / 'tb_logger').exists()
    left = sorted(os.listdir(tmp_path / 'experiments')) if not debug else None
    assert left == (None if debug else [name]) and (debug or (tmp_path / 'experiments' / name / 'notes.txt').is_file())


def make_lmdb(folder, keys):
    folder.mkdir()
    (folder / 'data.mdb').write_bytes(b'')
    (folder / 'meta_info.txt').write_text(''.join(f'{k}.png (48,48,3) 1\n' for k in keys))
    return str(folder)


def lmdb_options(gt, lq):
    opt = tiny_train_options('lmdb_check')
    opt['datasets']['train'].update(dataroot_gt=gt, dataroot_lq=lq, io_backend={'type': 'lmdb'}, filename_tmpl='{}')
    return opt


def test_missing_dataset_path(basicsr, tmp_path):
    opt = tiny_train_options('x')
    opt['datasets']['val']['dataroot_lq'] = 'datasets/nowhere/X4'
    assert refused(basicsr('train', opt), tmp_path) == [
        'datasets.val.dataroot_lq: path does not exist: datasets/nowhere/X4']


def test_lmdb_without_meta_info(basicsr, tmp_path):
    gt = make_lmdb(tmp_path / 'hr.lmdb', ['0001_s001'])
    lq = tmp_path / 'lr.lmdb'
    lq.mkdir()
    [line] = refused(basicsr('train', lmdb_options(gt, str(lq))), tmp_path)
    assert line.startswith(f'datasets.train.dataroot_lq: LMDB {lq} has no meta_info.txt')


def test_lmdbs_with_different_keys(basicsr, tmp_path):
    gt = make_lmdb(tmp_path / 'hr.lmdb', ['0001_s001', '0001_s002'])
    lq = make_lmdb(tmp_path / 'lr.lmdb', ['0001_s001', '0001_s003'])
    [line] = refused(basicsr('train', lmdb_options(gt, lq)), tmp_path)
    assert line.startswith('datasets.train.dataroot_lq: LMDB keys differ from dataroot_gt (1 only in gt, 1 only in lq')


def test_scale_and_upscale_disagree(basicsr, tmp_path):
    opt = tiny_train_options('x')
    opt['network_g']['upscale'] = 8
    assert refused(basicsr('train', opt), tmp_path) == [
        'network_g.upscale: 8 differs from scale: 4; set both to the same factor.']


def test_gt_size_not_divisible_by_scale(basicsr, tmp_path):
    opt = tiny_train_options('x')
    opt['datasets']['train']['gt_size'] = 30
    [line] = refused(basicsr('train', opt), tmp_path)
    assert line.startswith('datasets.train.gt_size: 30 is not divisible by scale 4')


@pytest.mark.parametrize('keys, value, names', [
    (('network_g', 'type'), 'IGNA', ['EDSR', 'IGAN', 'RCAN', 'SwinIR']),
    (('model_type', ), 'IGANModle', ['IGANModel', 'SRModel']),
    (('train', 'pixel_opt', 'type'), 'L1', ['L1Loss', 'MSELoss']),
])
def test_unknown_type_lists_the_registered_names(basicsr, tmp_path, keys, value, names):
    opt = tiny_train_options('x')
    section = opt
    for key in keys[:-1]:
        section = section[key]
    section[keys[-1]] = value
    [line] = refused(basicsr('train', opt), tmp_path)
    assert line.startswith(f"{'.'.join(keys)}: unknown type '{value}'; registered: ")
    assert set(names) <= set(line.split('registered: ')[1].rstrip('.').split(', '))


def test_missing_required_key(basicsr, tmp_path):
    opt = tiny_train_options('x')
    del opt['train']['total_iter']
    assert refused(basicsr('train', opt), tmp_path) == ['train.total_iter: required key is missing.']


def test_processes_kept_on_the_cpu_get_gloo_where_a_gpu_is_visible(monkeypatch):
    # NCCL cannot reduce CPU tensors: two CPU processes on a one-GPU machine (num_gpu: 0) must not get it.
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert choose_backend('auto', 0) == 'gloo'
    assert choose_backend('auto', 'auto') == 'nccl' and choose_backend('auto', 2) == 'nccl'
    with pytest.raises(ValueError, match=r"'nccl' needs the model on GPUs but num_gpu is 0; use 'gloo' or 'auto'"):
        choose_backend('nccl', 0)
    # Where none is visible, gloo whatever num_gpu says.
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert choose_backend('auto', 'auto') == choose_backend('auto', 2) == choose_backend('gloo', 0) == 'gloo'


@pytest.mark.skipif(torch.cuda.is_available(), reason='NCCL is a valid choice where a GPU is visible')
def test_nccl_without_gpu_is_refused_before_starting(basicsr, tmp_path):
    opt = tiny_train_options('x')
    opt['dist_params'] = {'backend': 'nccl'}
    [line] = refused(basicsr('train', opt, '--launcher', 'pytorch'), tmp_path)
    assert line == "dist_params.backend: 'nccl' needs CUDA GPUs and none is visible; use 'gloo' or 'auto'."


def test_forced_options_are_the_ones_checked(basicsr, tmp_path):
    """--force_yml changes what the run uses, so the check sees the forced values, not the file's (a file put
    right by --force_yml trains: tests/test_cli.py)."""
    assert refused(basicsr('train', tiny_train_options('x'), '--force_yml', 'scale=8'), tmp_path)[:1] == [
        'network_g.upscale: 4 differs from scale: 8; set both to the same factor.']


@pytest.mark.parametrize('entry, message', [
    ('trian:total_iter=1', 'the option file has no section trian; basicsr sets keys of existing sections only.'),
    ('train:optim_g:lr', "expected one '=', as in train:ema_decay=0.999."),
    ('train"]; print(1) #:total_iter=1', "keys are names of letters, digits and underscores joined by ':', as in "
     'train:ema_decay=0.999.'),
    ('train:scheduler:milestones=[__import__("os").getpid()]',
     'a list value must be a literal, as in train:scheduler:milestones=[1000,2000].'),
])
def test_a_force_yml_basicsr_cannot_apply_is_one_line(tmp_path, call, monkeypatch, entry, message):
    monkeypatch.chdir(tmp_path)
    opt_file = write_yaml(tmp_path / 'ok.yml', tiny_train_options('x'))
    proc = call(cli, 'train', '-opt', opt_file, '--force_yml', entry)
    assert proc.returncode == 2 and not (tmp_path / 'experiments').exists()
    assert proc.stderr.strip() == f'basicsr train: error: --force_yml {entry}: {message}'


def test_igan_model_switches_are_checked_before_the_experiment_folder_exists(basicsr, tmp_path):
    opt = tiny_train_options('switches')
    opt.update(channels_last='yes', compile='max-autotune')
    opt['train']['amp'] = 'bf32'
    opt['val'].update(amp='fp8', tile='32', tf32=1)
    assert refused(basicsr('train', opt), tmp_path) == [
        "channels_last='yes' must be true or false.",
        'val: tf32=1 must be true or false.',
        "compile='max-autotune' must be true, false or a mapping of torch.compile arguments "
        '(e.g. {mode: max-autotune}).',
        "train: amp='bf32' is not one of ('bf16', 'fp16') (or ~ for float32).",
        "val: amp='fp8' is not one of ('bf16', 'fp16') (or ~ for float32).",
        "val: tile='32' must be an integer of at least 1 (LR pixels per tile).",
    ]


@pytest.mark.skipif(torch.cuda.is_available(), reason='the refusal is for a machine without CUDA GPUs')
@pytest.mark.parametrize('command', ['train', 'test'])
def test_gpus_asked_for_where_none_is_visible_are_named_before_any_work(basicsr, tmp_path, command):
    opt = tiny_train_options('gpus') if command == 'train' else released_test_options('gpus')
    opt['num_gpu'] = 2
    assert refused(basicsr(command, opt), tmp_path, command) == [
        'num_gpu: 2 asks for 2 GPUs and no CUDA GPU is visible here; set num_gpu: 0 to run on the CPU, or auto.']


def test_more_gpus_than_visible_without_a_launcher_are_refused(basicsr, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 1)
    opt = tiny_train_options('gpus')
    opt['num_gpu'] = 4
    assert refused(basicsr('train', opt), tmp_path) == [
        'num_gpu: 4 asks for 4 GPUs and 1 is visible here; set num_gpu: 1, or auto.']


def test_an_unknown_checkpoint_format_is_refused(basicsr, tmp_path):
    opt = tiny_train_options('format')
    opt['logger']['save_checkpoint_format'] = 'ckpt'
    assert refused(basicsr('train', opt), tmp_path) == [
        "logger: save_checkpoint_format='ckpt' is not one of ('pth', 'safetensors')."]
