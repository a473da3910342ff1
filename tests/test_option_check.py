import pytest
import torch
from conftest import tiny_train_options, write_yaml

from igan_basicsr import cli
from igan_basicsr.options import choose_backend


@pytest.fixture
def fails_fast(tmp_path, call, monkeypatch):
    """fails_fast(opt, *extra): the error lines (after the file's name) of `basicsr train -opt FILE *extra`, run in
    this process; it must exit 1 before the experiment folder exists, one line per problem, no traceback."""
    monkeypatch.chdir(tmp_path)

    def fails_fast(opt, *extra):
        opt_file = write_yaml(tmp_path / 'bad.yml', opt)
        return refused_lines(tmp_path, call(cli, 'train', '-opt', opt_file, *extra), opt_file)
    return fails_fast


def refused_lines(tmp_path, proc, opt_file):
    assert proc.returncode == 1
    assert not (tmp_path / 'experiments').exists(), 'failed only after creating the experiment'
    lines = proc.stderr.strip().splitlines()
    assert 'Traceback' not in proc.stderr
    assert all(line.startswith(f'basicsr train: error: {opt_file}: ') for line in lines)
    return [line[len(f'basicsr train: error: {opt_file}: '):] for line in lines]


def make_lmdb(folder, keys):
    folder.mkdir()
    (folder / 'data.mdb').write_bytes(b'')
    (folder / 'meta_info.txt').write_text(''.join(f'{k}.png (48,48,3) 1\n' for k in keys))
    return str(folder)


def lmdb_options(gt, lq):
    opt = tiny_train_options('lmdb_check')
    opt['datasets']['train'].update(dataroot_gt=gt, dataroot_lq=lq, io_backend={'type': 'lmdb'}, filename_tmpl='{}')
    return opt


def test_missing_dataset_path(fails_fast):
    opt = tiny_train_options('x')
    opt['datasets']['val']['dataroot_lq'] = 'datasets/nowhere/X4'
    assert fails_fast(opt) == ['datasets.val.dataroot_lq: path does not exist: datasets/nowhere/X4']


def test_lmdb_without_meta_info(fails_fast, tmp_path):
    gt = make_lmdb(tmp_path / 'hr.lmdb', ['0001_s001'])
    lq = tmp_path / 'lr.lmdb'
    lq.mkdir()
    [line] = fails_fast(lmdb_options(gt, str(lq)))
    assert line.startswith(f'datasets.train.dataroot_lq: LMDB {lq} has no meta_info.txt')


def test_lmdbs_with_different_keys(fails_fast, tmp_path):
    gt = make_lmdb(tmp_path / 'hr.lmdb', ['0001_s001', '0001_s002'])
    lq = make_lmdb(tmp_path / 'lr.lmdb', ['0001_s001', '0001_s003'])
    [line] = fails_fast(lmdb_options(gt, lq))
    assert line.startswith('datasets.train.dataroot_lq: LMDB keys differ from dataroot_gt (1 only in gt, 1 only in lq')


def test_scale_and_upscale_disagree(fails_fast):
    opt = tiny_train_options('x')
    opt['network_g']['upscale'] = 8
    assert fails_fast(opt) == ['network_g.upscale: 8 differs from scale: 4; set both to the same factor.']


def test_gt_size_not_divisible_by_scale(fails_fast):
    opt = tiny_train_options('x')
    opt['datasets']['train']['gt_size'] = 30
    [line] = fails_fast(opt)
    assert line.startswith('datasets.train.gt_size: 30 is not divisible by scale 4')


@pytest.mark.parametrize('keys, value, names', [
    (('network_g', 'type'), 'IGNA', ['EDSR', 'IGAN', 'RCAN', 'SwinIR']),
    (('model_type', ), 'IGANModle', ['IGANModel', 'SRModel']),
    (('train', 'pixel_opt', 'type'), 'L1', ['L1Loss', 'MSELoss']),
])
def test_unknown_type_lists_the_registered_names(fails_fast, keys, value, names):
    opt = tiny_train_options('x')
    section = opt
    for key in keys[:-1]:
        section = section[key]
    section[keys[-1]] = value
    [line] = fails_fast(opt)
    assert line.startswith(f"{'.'.join(keys)}: unknown type '{value}'; registered: ")
    assert set(names) <= set(line.split('registered: ')[1].rstrip('.').split(', '))


def test_missing_required_key(fails_fast):
    opt = tiny_train_options('x')
    del opt['train']['total_iter']
    assert fails_fast(opt) == ['train.total_iter: required key is missing.']


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
def test_nccl_without_gpu_is_refused_before_starting(fails_fast):
    opt = tiny_train_options('x')
    opt['dist_params'] = {'backend': 'nccl'}
    [line] = fails_fast(opt, '--launcher', 'pytorch')
    assert line == "dist_params.backend: 'nccl' needs CUDA GPUs and none is visible; use 'gloo' or 'auto'."


def test_forced_options_are_the_ones_checked(fails_fast):
    """--force_yml changes what the run uses, so the check sees the forced values, not the file's (a file put right
    by --force_yml trains: test_cli.py, test_python_m_train_runs_the_same_pipeline_with_the_forced_options_checked)."""
    assert fails_fast(tiny_train_options('x'), '--force_yml', 'scale=8')[:1] == [
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


def test_igan_model_switches_are_checked_before_the_experiment_folder_exists(fails_fast):
    opt = tiny_train_options('switches')
    opt.update(channels_last='yes', compile='max-autotune')
    opt['train']['amp'] = 'bf32'
    opt['val'].update(amp='fp8', tile='32', tf32=1)
    assert fails_fast(opt) == [
        "channels_last='yes' must be true or false.",
        'val: tf32=1 must be true or false.',
        "compile='max-autotune' must be true, false or a mapping of torch.compile arguments "
        '(e.g. {mode: max-autotune}).',
        "train: amp='bf32' is not one of ('bf16', 'fp16') (or ~ for float32).",
        "val: amp='fp8' is not one of ('bf16', 'fp16') (or ~ for float32).",
        "val: tile='32' must be an integer of at least 1 (LR pixels per tile).",
    ]
