"""The comparison tools against the whole ecosystem: plugin networks (entry point or --import) measured in their
own processes, the bicubic row, models without weights, --weights OPTION_FILE=CHECKPOINT, latency whiskers, paired
per-image differences with a bootstrap interval, and learning curves read from basicsr's tensorboard events."""
import csv
import glob
import os
import re

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.archs import build_network
from basicsr.metrics import calculate_psnr, calculate_ssim
from conftest import SCORE_TOLERANCE, SET5, plugins_on_path, set5_scores, write_plugin_packages, write_yaml

from igan_basicsr.comparison import curves, measure, report, stats
from igan_basicsr.plugins import load_plugins
from igan_basicsr.prepare.bicubic import bicubic_upscale
from scripts.benchmarks import bench_converge, bench_speed_options, bench_tiling, bench_train_speed
from scripts.comparison import budget_compare as budget
from scripts.comparison import compare_models as compare
from scripts.data_preparation import prepare_div2k_lmdb

ANNOUNCED, SILENT = ('eco_announced', 'EcoAnnouncedNet'), ('eco_silent', 'EcoSilentNet')


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope='module')
def plugin_root(tmp_path_factory):
    """`eco_announced` (a basicsr.plugins entry point) and `eco_silent` (none)."""
    return write_plugin_packages(tmp_path_factory.mktemp('eco_plugins'), [ANNOUNCED], [SILENT])


@pytest.fixture
def plugins(plugin_root, monkeypatch):
    return plugins_on_path(plugin_root, monkeypatch)


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


# --- statistics --------------------------------------------------------------------------------------------------

def test_the_bootstrap_interval_of_a_tiny_example_is_the_one_worked_out_by_hand():
    # Differences 1, 2, 3: a draw of three images averages 1 only when it draws the first image three times,
    # (1/3)^3 = 3.7% of draws, more than the 2.5% below the interval: its low end is exactly 1, its high end 3.
    diff = stats.paired_difference([31, 32, 33], [30, 30, 30])
    assert diff == stats.PairedDifference(mean=2.0, low=1.0, high=3.0, images=3)
    # -1 and +1: a quarter of the draws average -1, a quarter +1; the interval spans both and holds zero.
    assert stats.paired_difference([29, 31], [30, 30]) == stats.PairedDifference(0.0, -1.0, 1.0, 2)
    # The same gap on every image: no draw can move it.
    assert stats.paired_difference([30.5] * 4, [30] * 4) == stats.PairedDifference(0.5, 0.5, 0.5, 4)


def test_the_bootstrap_interval_is_the_quantiles_of_ten_thousand_seeded_draws():
    values, reference = [30.1, 29.7, 31.2, 30.4, 28.9], [30.0, 29.9, 30.8, 30.5, 28.6]
    diffs = [v - r for v, r in zip(values, reference)]
    draws = np.random.default_rng(0).integers(0, 5, size=(10000, 5))
    means = sorted(sum(diffs[i] for i in row) / 5 for row in draws)

    def quantile(q):  # linear between the two draws around position q * (n - 1)
        pos = q * (len(means) - 1)
        below = int(pos)
        return means[below] + (pos - below) * (means[below + 1] - means[below])

    diff = stats.paired_difference(values, reference)
    assert diff.mean == pytest.approx(sum(diffs) / 5, abs=1e-12)
    assert (diff.low, diff.high) == pytest.approx((quantile(0.025), quantile(0.975)), abs=1e-12)
    assert stats.paired_difference(values, reference) == diff  # fixed seed: the same interval every time


def test_a_gap_is_called_real_only_when_the_interval_and_every_seed_agree():
    higher = stats.PairedDifference(0.1, 0.02, 0.2, 100)
    assert stats.verdict(higher) == 'higher'
    assert stats.verdict(higher, [0.08, 0.12]) == 'higher'
    assert stats.verdict(higher, [0.2, -0.01]) == 'no clear difference'
    assert stats.verdict(stats.PairedDifference(-0.1, -0.2, -0.03, 100), [-0.1]) == 'lower'
    assert stats.verdict(stats.PairedDifference(0.01, -0.02, 0.04, 100), [0.01, 0.02]) == 'no clear difference'
    assert stats.seed_spread([0.1]) is None
    assert stats.seed_spread([0.1, 0.3]) == pytest.approx(0.2 / 2 ** 0.5)


def test_per_image_values_are_averaged_over_seeds_and_must_cover_the_same_images():
    assert stats.mean_per_image([{'a': 30.0, 'b': 28.0}, {'b': 29.0, 'a': 31.0}]) == {'a': 30.5, 'b': 28.5}
    with pytest.raises(ValueError, match=r"the seeds were scored on different images: \['b', 'c'\]"):
        stats.mean_per_image([{'a': 1.0, 'b': 2.0}, {'a': 1.0, 'c': 2.0}])
    with pytest.raises(ValueError, match='paired values must be two lists of the same, non-zero length'):
        stats.paired_difference([], [])


# --- measuring -----------------------------------------------------------------------------------------------------

def test_the_bicubic_row_is_matlab_bicubic_scored_as_basicsr_scores_it(tmp_path):
    result = measure.run(measure.bicubic_option_file(str(tmp_path), 4), (32, 24), 3, [SET5], device='cpu')
    expected = set5_bicubic()
    assert result['name'] == 'Bicubic' and result['params'] == 0 and result['weights'] is None
    assert set(result['per_image']['Set5']) == set(expected)
    for image, (psnr, ssim) in expected.items():
        assert result['per_image']['Set5'][image] == {'psnr': pytest.approx(psnr, abs=1e-12),
                                                       'ssim': pytest.approx(ssim, abs=1e-12)}
    assert result['metrics']['Set5']['psnr'] == pytest.approx(np.mean([p for p, _ in expected.values()]), abs=1e-12)
    # Papers print 28.42 dB for bicubic x4 on Set5.
    assert round(result['metrics']['Set5']['psnr'], 2) == 28.43
    assert result['latency_min_ms'] <= result['latency_ms'] <= result['latency_max_ms']


def test_a_model_without_weights_is_profiled_and_not_scored(tmp_path, plugins):
    opt = plugin_options(tmp_path, ANNOUNCED[1], weights=False)
    load_plugins()
    result = measure.run(opt, (16, 16), 1, [SET5], device='cpu')
    assert result['metrics'] == {} and result['per_image'] == {} and result['params'] > 0


def test_measure_names_a_module_that_does_not_import(tmp_path, call):
    proc = call(measure, measure.bicubic_option_file(str(tmp_path), 4), '--json', str(tmp_path / 'r.json'),
                '--import', 'no_such_eco_plugin')
    assert proc.returncode == 2 and not (tmp_path / 'r.json').exists()
    assert proc.stderr == ("error: --import no_such_eco_plugin: cannot import it (No module named "
                           "'no_such_eco_plugin'); install the package that provides it, or put its folder on "
                           'PYTHONPATH.\n')


def test_weights_assignments_are_read_and_checked():
    import argparse
    assert measure.parse_weights_for('a.yml=b/c.pth') == measure.WeightsFor('a.yml', 'b/c.pth')
    with pytest.raises(argparse.ArgumentTypeError, match=r"'a.yml' is not OPTION_FILE=CHECKPOINT"):
        measure.parse_weights_for('a.yml')
    parser = argparse.ArgumentParser(prog='compare')
    assert measure.weights_by_file(parser, [measure.WeightsFor('a.yml', 'w.pth')], ['a.yml', 'b.yml']) == {
        'a.yml': 'w.pth'}
    with pytest.raises(SystemExit):
        measure.weights_by_file(parser, [measure.WeightsFor('c.yml', 'w.pth')], ['a.yml'])


# --- tables and plots ------------------------------------------------------------------------------------------------

def test_a_missing_value_says_why_in_the_markdown_and_is_empty_in_the_csv(tmp_path):
    rows = [{'name': 'a', 'psnr': 30.123}, {'name': 'b', 'psnr': report.Missing('no weights')}]
    text = report.write_table(str(tmp_path), 't', [('name', 'model', None), ('psnr', 'PSNR', '.2f')], rows)
    assert text.splitlines()[2:] == ['| a | 30.12 |', '| b | no weights |']
    assert read_csv(tmp_path / 't.csv') == [{'name': 'a', 'psnr': '30.123'}, {'name': 'b', 'psnr': ''}]


def test_the_latency_plot_starts_at_zero_with_the_runs_min_and_max_as_whiskers():
    fig, axes = report.subplots(1, (4, 3))
    rows = [{'name': 'a', 'params': 2e6, 'runs': 5, 'latency_ms': 100.0, 'latency_min_ms': 98.0,
             'latency_max_ms': 110.0},
            {'name': 'b', 'params': 1e6, 'runs': 5, 'latency_ms': 101.0, 'latency_min_ms': 99.5,
             'latency_max_ms': 103.0},
            {'name': 'untimed', 'params': 1e6, 'runs': 0, 'latency_ms': None}]
    ax = report.plot_latency(axes[0][0], rows, '320x180')
    assert ax.get_ylim() == pytest.approx((0, 110 * 1.15))
    whiskers = [c.get_segments()[0] for c in ax.collections]
    assert [(seg[0][1], seg[1][1]) for seg in whiskers] == [(98.0, 110.0), (99.5, 103.0)]
    assert ax.get_title() == 'latency: median, whiskers min-max of 5 runs'


# --- learning curves -------------------------------------------------------------------------------------------------

def test_validation_every_n_iterations_is_basicsrs_own_logged_to_tensorboard():
    opt = {'scale': 4, 'datasets': {'train': {'name': 't'}}, 'logger': {'print_freq': 100}}
    bench = measure.benchmark_dataset(SET5, 4)
    made = curves.with_validation(opt, [bench], 500)
    assert made['datasets'] == {'train': {'name': 't'}, 'val_1': bench}
    assert made['val'] == {'val_freq': 500, 'save_img': False, 'metrics': {'psnr': {
        'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True}}}
    assert made['logger'] == {'print_freq': 100, 'use_tb_logger': True} and 'val' not in opt


def test_curves_are_read_from_the_tensorboard_events_a_resumed_run_included(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    folder = tmp_path / 'tb_logger' / 'run'
    for points in ([(100, 20.5), (200, 21.0)], [(200, 21.25), (300, 21.5)]):  # a second attempt from iteration 100
        writer = SummaryWriter(log_dir=str(folder))
        for step, value in points:
            writer.add_scalar('metrics/Set5/psnr', value, step)
            writer.add_scalar('metrics/Set5/ssim', value / 30, step)
        writer.add_scalar('losses/l_pix', 0.1, 300)
        writer.close()
    assert curves.read_curves(str(folder)) == {'Set5': [(100, 20.5), (200, 21.25), (300, 21.5)]}
    found = [curves.Curve('igan', 10, 'Set5', curves.read_curves(str(folder))['Set5'])]
    curves.write_curves(str(tmp_path), found)
    assert read_csv(tmp_path / 'curves.csv')[1] == {'model': 'igan', 'seed': '10', 'benchmark': 'Set5',
                                                    'iteration': '200', 'psnr': '21.25'}
    curves.plot_curves(found, str(tmp_path / 'curves.png'))
    assert cv2.imread(str(tmp_path / 'curves.png')) is not None


def test_the_bicubic_option_file_builds_a_network_without_parameters(tmp_path):
    path = measure.bicubic_option_file(str(tmp_path), 8)
    opt = yaml.safe_load(open(path))
    assert opt['network_g'] == {'type': 'MatlabBicubic', 'upscale': 8} and opt['name'] == 'Bicubic'
    net = build_network(opt['network_g'])
    assert list(net.parameters()) == []
    assert tuple(net(torch.rand(2, 3, 5, 6)).shape) == (2, 3, 40, 48)



# --- compare_models.py -------------------------------------------------------------------------------------------

def plugin_scores(arch, checkpoint):
    """Set5 PSNR of a plugin network with `checkpoint`'s weights, computed here image by image."""
    load_plugins([SILENT[0]])
    net = build_network({'type': arch, 'upscale': 4, 'num_feat': 8})
    net.load_state_dict(torch.load(checkpoint, weights_only=True)['params'])
    return set5_scores(net)[0]


@pytest.mark.slow
def test_compare_models_scores_plugin_networks_beside_a_bicubic_row(tmp_path, plugins, call):
    """The issue's Done line: a network announced by entry point and one reached only by --import, scored on
    Set5 with a Bicubic row; a checkpoint given by --weights; a model without weights keeps its row."""
    announced = plugin_options(tmp_path, ANNOUNCED[1], weights=False)
    silent = plugin_options(tmp_path, SILENT[1], seed=1)
    unweighted = write_yaml(tmp_path / 'unweighted.yml', {'name': 'unweighted', 'model_type': 'SwitchSRModel',
                                                          'scale': 4, 'network_g': {'type': ANNOUNCED[1]}})
    load_plugins()
    torch.manual_seed(0)
    checkpoint = str(tmp_path / 'trained.pth')
    torch.save({'params': build_network({'type': ANNOUNCED[1], 'upscale': 4, 'num_feat': 8}).state_dict()},
               checkpoint)
    out = tmp_path / 'out'
    proc = call(compare, announced, silent, unweighted, '--import', 'eco_silent', '--weights',
                f'{announced}={checkpoint}', '--benchmark', SET5, '--size', '16x16', '--runs', '3', '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    rows = {r['name']: r for r in read_csv(out / 'compare.csv')}
    assert list(rows) == [ANNOUNCED[1], SILENT[1], 'unweighted', 'Bicubic']
    assert float(rows[ANNOUNCED[1]]['Set5_psnr']) == pytest.approx(plugin_scores(ANNOUNCED[1], checkpoint),
                                                                   abs=SCORE_TOLERANCE)
    assert float(rows[SILENT[1]]['Set5_psnr']) == pytest.approx(
        plugin_scores(SILENT[1], str(tmp_path / f'{SILENT[1]}_1.pth')), abs=SCORE_TOLERANCE)
    bicubic = set5_bicubic().values()
    assert float(rows['Bicubic']['Set5_psnr']) == pytest.approx(np.mean([p for p, _ in bicubic]), abs=1e-12)
    assert float(rows['Bicubic']['Set5_ssim']) == pytest.approx(np.mean([s for _, s in bicubic]), abs=1e-12)
    assert rows['unweighted']['Set5_psnr'] == rows['unweighted']['Set5_ssim'] == ''
    for row in rows.values():
        assert float(row['latency_min_ms']) <= float(row['latency_ms']) <= float(row['latency_max_ms'])
    md = (out / 'compare.md').read_text()
    assert re.search(r'^\| unweighted \| EcoAnnouncedNet \| 4 \|.*\| no weights \| no weights \|$', md, re.M)
    assert ('Bicubic: MATLAB bicubic upscaling of the same LR images (basicsr.utils.matlab_functions.imresize), '
            'scored alike; no convolutions or matrix products, so 0 FLOPs counted.') in md
    assert 'compare.png: not on the PSNR panels (no weights): unweighted\n' in proc.stdout
    assert (out / 'compare.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_compare_models_refuses_weights_for_a_file_not_compared_or_not_found(tmp_path, plugins, call):
    opt = plugin_options(tmp_path, ANNOUNCED[1], weights=False)
    proc = call(compare, opt, '--weights', f'other.yml={opt}', '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2 and proc.stderr.strip().endswith(
        'error: --weights other.yml=' + opt + ': other.yml is not one of the option files compared; name it as on '
        'the command line.')
    proc = call(compare, opt, '--weights', f'{opt}=nowhere.pth', '--benchmark', SET5, '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2
    assert proc.stderr == f'compare_models.py: error: --weights {opt}=nowhere.pth: not found.\n'
    assert not (tmp_path / 'out').exists()


def test_compare_models_needs_import_for_a_plugin_that_announces_nothing(tmp_path, plugins, call):
    opt = plugin_options(tmp_path, 'EcoNeverImported', weights=False)
    proc = call(compare, opt, '--profile-only', '--import', 'no_such_eco_plugin')
    assert proc.returncode == 2 and proc.stderr == (
        "compare_models.py: error: --import no_such_eco_plugin: cannot import it (No module named "
        "'no_such_eco_plugin'); install the package that provides it, or put its folder on PYTHONPATH.\n")
    proc = call(compare, opt, '--profile-only')
    assert proc.returncode == 2 and ("network_g type 'EcoNeverImported' is not in basicsr's ARCH_REGISTRY (a "
                                     "plugin's network: install the plugin, or name the module that registers it "
                                     'with --import MODULE).') in proc.stderr


# --- budget_compare.py ---------------------------------------------------------------------------------------------

def image_rows(name, per_seed, reference=None):
    """A budget row of benchmark B over images a, b, c: `per_seed` {seed: [PSNR a, b, c]}."""
    row = {'name': name, 'arch': 'X', 'per_image': {}}
    for seed, values in per_seed.items():
        row['per_image'][seed] = {'B': {i: {'psnr': v} for i, v in zip('abc', values)}}
        row[f'B_psnr_seed{seed}'] = sum(values) / 3
    return row


def test_paired_gaps_average_each_image_over_seeds_then_bootstrap_over_images():
    ref = image_rows('ref', {1: [30, 31, 32], 2: [30.2, 31.2, 32.2]})
    better = image_rows('better', {1: [31, 33, 35], 2: [31.2, 33.2, 35.2]})  # +1, +2, +3 in both seeds
    mixed = image_rows('mixed', {1: [30.5, 31.5, 32.5], 2: [29.7, 30.7, 31.7]})  # +0.5, then -0.5 on every image
    budget.add_paired_gaps([ref, better, mixed], ref, [1, 2], ['B'])
    assert 'B_gap' not in ref
    # The worked example of test_the_bootstrap_interval_of_a_tiny_example_is_the_one_worked_out_by_hand.
    assert (better['B_gap'], better['B_ci_low'], better['B_ci_high']) == pytest.approx((2, 1, 3))
    assert better['B_gap_sd'] == pytest.approx(0, abs=1e-12) and better['B_verdict'] == 'higher'
    assert (mixed['B_gap'], mixed['B_ci_low'], mixed['B_ci_high']) == pytest.approx((0, 0, 0), abs=1e-12)
    assert mixed['B_gap_sd'] == pytest.approx(2 ** 0.5 / 2) and mixed['B_verdict'] == 'no clear difference'


def test_the_training_set_comes_from_a_prepare_div2k_lmdb_folder(tmp_path):
    train = {'name': 'demo', 'type': 'PairedImageDataset', 'dataroot_gt': 'x', 'dataroot_lq': 'y', 'gt_size': 64,
             'meta_info_file': 'm.txt', 'io_backend': {'type': 'disk'}, 'filename_tmpl': '{}x4'}
    with pytest.raises(budget.OptionError) as err:
        budget.lmdb_train_set(train, str(tmp_path / 'train291'), 4)
    assert str(err.value) == (
        f'--train-root {tmp_path}/train291: no LMDB {tmp_path}/train291/DIV2K_train_HR_sub.lmdb; write it with python '
        f'scripts/data_preparation/prepare_div2k_lmdb.py --root {tmp_path}/train291 --scales 4 (HR images in '
        f'{tmp_path}/train291/DIV2K_train_HR).')
    root = set5_lmdb(tmp_path)
    assert budget.lmdb_train_set(train, root, 4) == {
        'name': 'set5_lmdb', 'type': 'PairedImageDataset', 'dataroot_gt': f'{root}/DIV2K_train_HR_sub.lmdb',
        'dataroot_lq': f'{root}/DIV2K_train_LR_bicubic_X4_sub.lmdb', 'gt_size': 64, 'io_backend': {'type': 'lmdb'},
        'filename_tmpl': '{}'}


def set5_lmdb(tmp_path):
    """Set5 cut into 64x64 sub-images by prepare_div2k_lmdb.py: a training set other than the base file's."""
    root = tmp_path / 'set5_lmdb'
    if not root.exists():
        root.mkdir()
        (root / 'DIV2K_train_HR').symlink_to(os.path.join(SET5, 'HR'))
        assert prepare_div2k_lmdb.main(['--root', str(root), '--scales', '4', '--crop', '64', '--step', '64',
                                        '--workers', '1']) == 0
    return str(root)


def budget_base(tmp_path):
    """Two iterations on Set5's images (--train-root replaces them), L1, Adam."""
    train = {'name': 'Set5', 'type': 'PairedImageDataset', 'dataroot_gt': os.path.join(SET5, 'HR'),
             'dataroot_lq': os.path.join(SET5, 'LR_bicubic', 'X4'), 'filename_tmpl': '{}x4',
             'io_backend': {'type': 'disk'}, 'gt_size': 32, 'use_hflip': True, 'use_rot': True,
             'num_worker_per_gpu': 0, 'batch_size_per_gpu': 2, 'prefetch_mode': None}
    return write_yaml(tmp_path / 'base.yml', {
        'scale': 4, 'num_gpu': 0, 'datasets': {'train': train}, 'path': {'pretrain_network_g': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.99]},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5},
                  'total_iter': 4, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 4, 'use_tb_logger': False}})


@pytest.mark.slow
def test_budget_compare_trains_an_import_only_plugin_on_an_lmdb_with_curves_and_per_image_gaps(
        tmp_path, plugins, call, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    model = plugin_options(tmp_path, SILENT[1], weights=False)
    root, out = set5_lmdb(tmp_path), tmp_path / 'out'
    proc = call(budget, model, '--base', budget_base(tmp_path), '--train-root', root, '--curve-every', '2',
                '--seeds', '3', '--benchmark', SET5, '--size', '16x16', '--import', 'eco_silent', '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    assert 'wrote budget.md, budget.csv, per_image.csv, curves.csv, curves.png and budget.png to' in proc.stdout
    run = f'budget_{SILENT[1]}_seed3_{budget.run_tag(str(out))}'
    merged = yaml.safe_load((out / 'logs' / f'{run}.yml').read_text())
    assert merged['datasets']['train']['dataroot_lq'] == f'{root}/DIV2K_train_LR_bicubic_X4_sub.lmdb'
    assert merged['val']['val_freq'] == 2 and merged['datasets']['val_1']['name'] == 'Set5'
    rows = {r['name']: r for r in read_csv(out / 'budget.csv')}
    assert list(rows) == ['Bicubic', SILENT[1]]  # best mean first: two iterations are far below bicubic
    per_image = read_csv(out / 'per_image.csv')
    bicubic = set5_bicubic()
    assert [(r['benchmark'], r['image']) for r in per_image] == [('Set5', i) for i in sorted(bicubic)]
    for r in per_image:
        assert float(r['Bicubic']) == pytest.approx(bicubic[r['image']][0], abs=1e-12)
    trained = [float(r[f'{SILENT[1]}_seed3']) for r in per_image]
    gap = stats.paired_difference([float(r['Bicubic']) for r in per_image], trained)
    row = rows['Bicubic']
    assert [float(row[k]) for k in ('Set5_gap', 'Set5_ci_low', 'Set5_ci_high')] == pytest.approx(list(gap[:3]))
    assert row['Set5_verdict'] == stats.verdict(gap, [gap.mean])
    assert float(rows[SILENT[1]]['Set5_psnr_seed3']) == pytest.approx(np.mean(trained), abs=1e-12)
    points = [r for r in read_csv(out / 'curves.csv') if r['benchmark'] == 'Set5']
    assert [(r['model'], r['seed'], r['iteration']) for r in points] == [(SILENT[1], '3', '2'), (SILENT[1], '3', '4')]
    # The curve's last point is basicsr's validation of the weights the table scored (tensorboard keeps float32).
    assert float(points[-1]['psnr']) == pytest.approx(np.mean(trained), abs=1e-4)
    assert (out / 'curves.png').is_file() and (out / 'budget.png').is_file()


def test_budget_compare_refuses_an_unknown_reference_and_a_missing_training_set(tmp_path, call, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = write_yaml(tmp_path / 'one.yml', {'name': 'one', 'model_type': 'IGANModel', 'network_g': {
        'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 1, 'num_block': 1}})
    args = [model, '--base', budget_base(tmp_path), '--benchmark', SET5, '--out', str(tmp_path / 'out')]
    proc = call(budget, *args, '--reference', 'IGAN_growth')
    assert proc.returncode == 2 and proc.stderr == ("budget_compare.py: error: --reference IGAN_growth: no option file "
                                                    "names a model 'IGAN_growth'; the models: one.\n")
    proc = call(budget, *args, '--train-root', str(tmp_path / 'nowhere'))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f'budget_compare.py: error: --train-root {tmp_path}/nowhere: no LMDB '
                                  f'{tmp_path}/nowhere/DIV2K_train_HR_sub.lmdb')
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'experiments').exists()


# --- benchmarks ------------------------------------------------------------------------------------------------------

IMPORT_REFUSED = ("error: --import no_such_eco_plugin: cannot import it (No module named 'no_such_eco_plugin'); "
                  'install the package that provides it, or put its folder on PYTHONPATH.\n')


@pytest.mark.parametrize('script, args', [
    (bench_speed_options, ['OPT', '--device', 'cpu']),
    (bench_tiling, ['OPT', '--tile', '8', '--no-weights']),
    (bench_train_speed, ['--device', 'cpu', '--tiny']),
    (bench_converge, ['--data', 'x']),
], ids=['bench_speed_options', 'bench_tiling', 'bench_train_speed', 'bench_converge'])
def test_every_benchmark_names_a_module_that_does_not_import(tmp_path, plugins, call, script, args):
    opt = plugin_options(tmp_path, SILENT[1], weights=False)
    out = tmp_path / 'out'
    proc = call(script, *[opt if a == 'OPT' else a for a in args], '--import', 'no_such_eco_plugin', '--out', str(out))
    assert proc.returncode == 2 and proc.stderr.endswith(IMPORT_REFUSED) and proc.stderr.count('\n') == 1
    assert not out.exists()


def test_bench_speed_options_times_an_import_only_plugin(tmp_path, plugins, call):
    opt = plugin_options(tmp_path, SILENT[1], weights=False)
    proc = call(bench_speed_options, opt, '--import', 'eco_silent', '--variants', 'channels_last', '--rounds', '1',
                '--batch', '1', '--patch', '8', '--test-size', '16x16', '--device', 'cpu', '--out', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert [(r['model'], r['variant']) for r in read_csv(tmp_path / 'speed_options.csv')] == [
        (SILENT[1], 'float32 (baseline)'), (SILENT[1], 'channels_last')]


@pytest.mark.slow
def test_bench_tiling_measures_an_import_only_plugin_in_its_processes(tmp_path, plugins, call):
    opt = plugin_options(tmp_path, SILENT[1], weights=False)
    proc = call(bench_tiling, opt, '--import', 'eco_silent', '--tile', '8', '--tile-pad', '2', '--size', '16x16',
                '--no-weights', '--out', str(tmp_path / 'out'))
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(tmp_path / 'out' / 'tiling.csv')
    assert [r['variant'] for r in rows] == ['whole image', 'tiles 8+2']  # not scored: no Bicubic row
    assert f'{SILENT[1]} ({SILENT[1]}, x4) on CPU' in (tmp_path / 'out' / 'tiling.md').read_text()
