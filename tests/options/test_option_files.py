"""The option files in options/: what a user running them depends on, not each value they hold."""
import glob
import os
import sys

import pytest
import torch
from basicsr.archs import build_network
from basicsr.data import build_dataset
from basicsr.utils.options import parse_options
from conftest import REPO, SET5

from igan_basicsr.options import check_options, choose_backend, read_option_file
from igan_basicsr.prepare.benchmark_sets import prepare_benchmark
from igan_basicsr.prepare.div2k_lmdb import HR_FOLDER, prepare_div2k_lmdb
from igan_basicsr.prepare.subimages import Grid

OPTION_FILES = sorted(glob.glob(os.path.join(REPO, 'options', '*.yml')))
BENCHMARKS = ['Set5', 'Set14', 'B100', 'Urban100', 'Manga109']
# Trainable parameters of the authors' released models, the paper's size (tests/archs/test_igan_arch.py counts
# them too).
PAPER_PARAMS = {4: 16_290_027, 8: 16_652_779}
SHIPPED = ('train_IGAN_x4', 'train_IGAN_x8', 'test_IGAN_x4', 'test_IGAN_x8', 'demo_IGAN_x4')
REFERENCE_FILES = [f'{kind}_IGAN_x{scale}.yml' for kind in ('train', 'test') for scale in (4, 8)]


def parse(path, monkeypatch, root, is_train):
    monkeypatch.setattr(sys, 'argv', ['basicsr', '-opt', path])
    opt, _ = parse_options(str(root), is_train=is_train)
    return opt


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    """prepared(scale): a working directory holding what the data steps of the README write for that scale only:
    the DIV2K LMDBs (prepare_div2k_lmdb, here from one photograph) and the five benchmark sets (prepare_benchmark,
    here of one image each)."""
    made = {}

    def prepared(scale):
        if scale not in made:
            root = tmp_path_factory.mktemp(f'x{scale}')
            hr = root / 'datasets' / 'DIV2K' / HR_FOLDER
            one = root / 'one_image'
            for folder in (hr, one):
                folder.mkdir(parents=True)
            os.symlink(os.path.join(SET5, 'HR', 'woman.png'), hr / '0001.png')
            os.symlink(os.path.join(SET5, 'HR', 'bird.png'), one / 'bird.png')
            # Sub-images of 192, the reference files' gt_size (DIV2K's own are 480).
            prepare_div2k_lmdb(str(hr.parent), (scale, ), grid=Grid(192, 96), workers=1)
            for name in BENCHMARKS:
                prepare_benchmark(str(one), str(root / 'datasets' / 'benchmark' / name), (scale, ))
            made[scale] = root
        return made[scale]
    return prepared


@pytest.mark.parametrize('path', OPTION_FILES, ids=os.path.basename)
def test_every_option_file_parses_and_its_network_upscales_by_its_scale(path, monkeypatch, tmp_path):
    opt = parse(path, monkeypatch, tmp_path, is_train=os.path.basename(path).startswith(('train', 'demo')))
    net = build_network(opt['network_g']).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 3, 8, 6)).shape == (1, 3, 8 * opt['scale'], 6 * opt['scale'])


@pytest.mark.parametrize('name', REFERENCE_FILES)
def test_reference_files_pass_the_checks_on_the_prepared_data_and_build_the_paper_s_network(
        name, prepared, monkeypatch):
    """Run from a folder where the README's data steps (and, for testing, the weights) are in place, `basicsr
    train|test` finds nothing to refuse, every dataset reads its images at the file's scale, and the network is the
    released one's size."""
    path = os.path.join(REPO, 'options', name)
    is_train = name.startswith('train')
    scale = int(name[-5])
    root = prepared(scale)
    monkeypatch.chdir(root)
    opt = read_option_file(path)
    weights = opt['path'].get('pretrain_network_g')
    if weights:  # downloaded or converted by the user (README: Test on the benchmarks)
        os.makedirs(os.path.dirname(weights), exist_ok=True)
        open(weights, 'wb').close()
    assert check_options(opt, is_train=is_train).errors == []

    parsed = parse(path, monkeypatch, root, is_train)
    net = build_network(parsed['network_g'])
    assert sum(p.numel() for p in net.parameters() if p.requires_grad) == PAPER_PARAMS[scale]
    for phase, dataset_opt in parsed['datasets'].items():
        item = build_dataset(dataset_opt)[0]
        gt, lq = item['gt'].shape[-2:], item['lq'].shape[-2:]
        assert (gt[0], gt[1]) == (lq[0] * scale, lq[1] * scale)
        if phase == 'train':
            assert gt[0] == gt[1] == dataset_opt['gt_size']
    names = [d['name'] for d in parsed['datasets'].values()]
    assert names == (['DIV2K', 'Set5'] if is_train else BENCHMARKS)
    # The community protocol every table in the README uses: PSNR and SSIM on Y, crop_border = scale.
    assert {key: (m['crop_border'], m['test_y_channel']) for key, m in parsed['val']['metrics'].items()} == {
        'psnr': (scale, True), 'ssim': (scale, True)}


@pytest.mark.parametrize('scale', [4, 8])
@pytest.mark.parametrize('gpu, backend', [(False, 'gloo'), (True, 'nccl')], ids=['no-gpu', 'gpu'])
def test_reference_train_options_take_the_machine_s_backend(scale, gpu, backend, monkeypatch):
    """`scripts/dist_train.sh N options/train_IGAN_x{4,8}.yml` runs where no GPU is visible (gloo) and on GPUs
    (NCCL)."""
    opt = read_option_file(os.path.join(REPO, 'options', f'train_IGAN_x{scale}.yml'))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: gpu)
    assert choose_backend(opt['dist_params']['backend'], opt.get('num_gpu', 'auto')) == backend


def test_the_shipped_option_files_show_a_validation_progress_bar(repo):
    for name in SHIPPED:
        assert read_option_file(os.path.join(repo, 'options', f'{name}.yml'))['val']['pbar'] is True, name
