import csv
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.archs import build_network
from basicsr.models import build_model
from conftest import FIXTURES, REPO, SCORE_TOLERANCE, SET5, set5_dataset, set5_scores, write_yaml

from igan_basicsr.atomic import replacing
from igan_basicsr.checkpoints import extract_state_dict, load_checkpoint
from igan_basicsr.comparison.report import write_table
from scripts.benchmarks import bench_arch, bench_tiling
from scripts.comparison import budget_compare as budget
from scripts.comparison import compare_models as compare

BUDGET = budget.__file__
RELEASED_X4 = os.path.join(FIXTURES, 'official_x4_g2b2.pth')


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def conv_flops(net, shape):
    """2 x multiply-adds of every convolution, from the output shapes seen by forward hooks."""
    total = []

    def hook(module, _, out):
        kh, kw = module.kernel_size
        total.append(2 * out.numel() * module.in_channels // module.groups * kh * kw)

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        net.eval()(torch.rand(shape))
    for h in handles:
        h.remove()
    return sum(total)


IGAN_G2B2 = {'type': 'IGAN', 'upscale': 4, 'num_group': 2, 'num_block': 2}
RCAN_TINY = {'type': 'RCAN', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_group': 2, 'num_block': 2,
             'upscale': 4}


@pytest.fixture
def two_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the scripts' relative paths (results/, experiments/) land here
    igan = write_yaml(tmp_path / 'igan.yml', {'name': 'igan_released', 'model_type': 'IGANModel', 'scale': 4,
                                              'network_g': IGAN_G2B2, 'path': {'pretrain_network_g': RELEASED_X4}})
    rcan = write_yaml(tmp_path / 'rcan.yml', {'name': 'rcan_tiny', 'model_type': 'SRModel', 'scale': 4,
                                              'network_g': RCAN_TINY})
    return igan, rcan


@pytest.mark.slow
def test_compare_models_writes_table_csv_and_plot(tmp_path, two_models, call):
    out = tmp_path / 'out'
    proc = call(compare, *two_models, '--benchmark', SET5, '--size', '40x24', '--runs', '2', '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    assert 'models: 100%' in proc.stderr  # the progress bar over models
    rows = {r['name']: r for r in read_csv(out / 'compare.csv')}
    assert list(rows) == ['igan_released', 'rcan_tiny', 'Bicubic']
    igan, rcan = released_igan(), build_network(dict(RCAN_TINY))
    for row, net in ((rows['igan_released'], igan), (rows['rcan_tiny'], rcan)):
        assert float(row['params_m']) * 1e6 == pytest.approx(sum(p.numel() for p in net.parameters()))
        assert float(row['gflops']) * 1e9 == pytest.approx(conv_flops(net, (1, 3, 24, 40)))
        assert float(row['latency_ms']) > 0
        assert float(row['peak_mem_mib']) >= float(row['mem_before_inference_mib']) > 0
    psnr, ssim = set5_scores(igan)
    assert float(rows['igan_released']['Set5_psnr']) == pytest.approx(psnr, abs=SCORE_TOLERANCE)
    assert float(rows['igan_released']['Set5_ssim']) == pytest.approx(ssim, abs=SCORE_TOLERANCE)
    assert rows['rcan_tiny']['Set5_psnr'] == ''  # no checkpoint, no metrics
    md = (out / 'compare.md').read_text()
    memory = 'torch.cuda.max_memory_allocated' if torch.cuda.is_available() else 'ru_maxrss'
    assert 'FLOPs for a 40x24 LR input' in md and memory in md and 'crop_border = scale' in md
    assert re.search(r'\| rcan_tiny \| RCAN \| 4 \| 0\.0\d\d \|.*\| no weights \| no weights \|', md)
    assert (out / 'compare.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def released_igan():
    """The released fixture's network, loaded by the model's own converter."""
    return build_model({'model_type': 'IGANModel', 'is_train': False, 'num_gpu': 0, 'dist': False, 'scale': 4,
                        'network_g': dict(IGAN_G2B2), 'path': {'pretrain_network_g': RELEASED_X4}}).net_g


def test_missing_checkpoint_is_reported_before_any_work(tmp_path, two_models, call):
    missing = write_yaml(tmp_path / 'missing.yml', {'name': 'gone', 'scale': 4, 'network_g': RCAN_TINY,
                                                    'path': {'pretrain_network_g': 'nowhere/RCAN.pth'}})
    proc = call(compare, *two_models, missing, '--benchmark', SET5, '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2
    assert 'missing.yml: path.pretrain_network_g nowhere/RCAN.pth not found' in proc.stderr
    assert '--profile-only' in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'out').exists()


class _Payload:
    """Unpickling this would run os.system: the kind of file a weights-only load refuses."""
    def __reduce__(self):
        return os.system, ('echo never',)


def test_a_peer_checkpoint_that_would_run_code_is_refused_before_any_work(tmp_path, two_models, call):
    torch.save({'params': _Payload()}, tmp_path / 'RCAN.pth')
    peer = write_yaml(tmp_path / 'peer.yml', {'name': 'peer', 'model_type': 'SRModel', 'scale': 4,
                                              'network_g': RCAN_TINY,
                                              'path': {'pretrain_network_g': str(tmp_path / 'RCAN.pth')}})
    proc = call(compare, *two_models, peer, '--benchmark', SET5, '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2
    assert f'peer.yml: path.pretrain_network_g {tmp_path}/RCAN.pth: refused: loading it would need to run code' \
        in proc.stderr
    assert 'never' not in proc.stdout and not (tmp_path / 'out').exists()


def test_benchmark_layout_and_unknown_arch_are_named(tmp_path, two_models, call):
    bad = tmp_path / 'Set5copy'
    (bad / 'HR').mkdir(parents=True)
    unknown = write_yaml(tmp_path / 'unknown.yml', {'scale': 4, 'network_g': {'type': 'NoSuchNet'}})
    proc = call(compare, *two_models, unknown, '--benchmark', str(bad))
    assert proc.returncode == 2
    assert f'{bad}/LR_bicubic/X4 is not a folder' in proc.stderr
    assert "network_g type 'NoSuchNet' is not in basicsr's ARCH_REGISTRY" in proc.stderr


def test_an_unreadable_option_file_is_named_as_basicsr_names_it(tmp_path, two_models, call):
    (tmp_path / 'broken.yml').write_text('name: x\nnetwork_g: [1,\n')
    proc = call(compare, *two_models, 'broken.yml', 'nowhere.yml', '--profile-only')
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    assert re.search(r'broken\.yml \(line 3, column 1\): invalid YAML: ', proc.stderr)
    assert 'option file not found: nowhere.yml' in proc.stderr


def test_two_option_files_naming_one_model_are_refused_with_both_paths(tmp_path, two_models, call):
    twin = write_yaml(tmp_path / 'rcan_again.yml', {'name': 'rcan_tiny', 'scale': 4, 'network_g': RCAN_TINY})
    proc = call(compare, *two_models, twin, '--profile-only', '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2
    assert f"{two_models[1]} and {twin} are both named 'rcan_tiny': give each model its own name." in proc.stderr
    assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_profile_only_ignores_checkpoints(tmp_path, two_models, call):
    missing = write_yaml(tmp_path / 'missing.yml', {'name': 'gone', 'scale': 4, 'network_g': RCAN_TINY,
                                                    'path': {'pretrain_network_g': 'nowhere/RCAN.pth'}})
    out = tmp_path / 'out'
    proc = call(compare, two_models[0], missing, '--profile-only', '--size', '16x16', '--runs', '1', '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out / 'compare.csv')
    assert [r['name'] for r in rows] == ['igan_released', 'gone']
    assert (out / 'compare.png').is_file()


PAPER_PARAMS = {  # millions; the papers round these to EDSR 43 M, RCAN 16 M, SwinIR 11.9 M
    'EDSR_x4.yml': 43.09, 'RCAN_x4.yml': 15.59, 'SwinIR_x4.yml': 11.90,
    'EDSR_x8.yml': 45.45, 'RCAN_x8.yml': 15.74, 'SwinIR_x8.yml': 12.05,
}


@pytest.mark.parametrize('name', sorted(PAPER_PARAMS))
def test_peer_option_files_are_paper_size(name):
    with open(os.path.join(REPO, 'options', 'compare', name)) as f:
        opt = yaml.safe_load(f)
    net = build_network(dict(opt['network_g']))
    assert opt['scale'] == opt['network_g']['upscale'] == int(name[-5])
    assert sum(p.numel() for p in net.parameters()) / 1e6 == pytest.approx(PAPER_PARAMS[name], abs=0.01)
    assert net(torch.rand(1, 3, 16, 16)).shape[-1] == 16 * opt['scale']


@pytest.mark.parametrize('family, suffix, names', [
    ('small', '', {'IGAN_growth', 'IGAN_self', 'IGAN_none', 'IGAN_mean', 'RCAN_small', 'EDSR_small'}),
    ('tiny', '_tiny', {'IGAN_growth_tiny', 'IGAN_self_tiny', 'IGAN_none_tiny', 'RCAN_tiny', 'EDSR_tiny'}),
])
def test_budget_models_have_matched_sizes(family, suffix, names):
    sizes = {}
    for path in glob.glob(os.path.join(REPO, 'options', 'compare', family, '*.yml')):
        with open(path) as f:
            opt = yaml.safe_load(f)
        sizes[opt['name']] = sum(p.numel() for p in build_network(dict(opt['network_g'])).parameters())
    assert set(sizes) == names
    assert sizes[f'IGAN_growth{suffix}'] == sizes[f'IGAN_self{suffix}']
    for name in (f'RCAN_{family}', f'EDSR_{family}'):
        assert abs(sizes[name] / sizes[f'IGAN_growth{suffix}'] - 1) < 0.05, sizes


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """The working directory of a comparison (its experiments/ go there); one thread per training it starts."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    return tmp_path


def budget_base(tmp_path, iters=3, save_every=None):
    train = set5_dataset(gt_size=32, use_hflip=True, use_rot=True, num_worker_per_gpu=0, batch_size_per_gpu=2,
                         dataset_enlarge_ratio=2, prefetch_mode=None)
    return write_yaml(tmp_path / 'base.yml', {
        'scale': 4, 'num_gpu': 0, 'datasets': {'train': train}, 'path': {'pretrain_network_g': None},
        'train': {'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.99]},
                  'scheduler': {'type': 'MultiStepLR', 'milestones': [100], 'gamma': 0.5},
                  'total_iter': iters, 'warmup_iter': -1,
                  'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': save_every or iters, 'use_tb_logger': False},
    })


@pytest.mark.slow
def test_budget_compare_stops_at_the_first_failed_run(tmp_path, in_tmp, call):
    """A run that fails ends the comparison at once with its log, not after every other run has trained."""
    bad = write_yaml(tmp_path / 'bad.yml', {'name': 'bad', 'model_type': 'IGANModel', 'network_g': {
        'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 1, 'num_block': 1, 'attention': 'sideways'}})
    good = write_yaml(tmp_path / 'good.yml', {'name': 'good', 'model_type': 'IGANModel', 'network_g': {
        'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 1, 'num_block': 1}})
    out = tmp_path / 'out'
    proc = call(budget, bad, good, '--base', budget_base(tmp_path), '--seeds', '1', '--iters', '2',
                '--benchmark', SET5, '--out', str(out))
    tag = budget.run_tag(str(out))
    assert proc.returncode == 1
    assert f'error: training budget_bad_seed1_{tag} failed (exit 1); log {out}/logs/budget_bad_seed1_{tag}.log' \
        in proc.stderr
    assert "attention='sideways' is not one of" in proc.stderr and 'No table written' in proc.stderr
    assert not (out / 'budget.md').exists() and not (out / 'budget.csv').exists()
    assert not (out / 'logs' / f'budget_good_seed1_{tag}.log').exists()


def test_budget_compare_refuses_a_damaged_benchmark_before_training(tmp_path, in_tmp, call):
    bench = tmp_path / 'Set5'
    shutil.copytree(SET5, bench)
    lr_dir = bench / 'LR_bicubic' / 'X4'
    model = write_yaml(tmp_path / 'one.yml', {'name': 'one', 'model_type': 'IGANModel', 'network_g': {
        'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 1, 'num_block': 1}})
    cmd = [model, '--base', budget_base(tmp_path), '--seeds', '1', '--iters', '2', '--benchmark', str(bench),
           '--out', str(tmp_path / 'out')]
    (lr_dir / 'birdx4.png').write_bytes(b'')
    proc = call(budget, *cmd)
    assert proc.returncode == 2
    assert f'error: {bench}: cannot read image {lr_dir}/birdx4.png' in proc.stderr
    assert ('replace it (scripts/data_preparation/prepare_benchmark.py writes this layout from HR images).'
            in proc.stderr)
    # An LR image of another size than its HR one downscaled: basicsr would compare misaligned pixels or fail.
    cv2.imwrite(str(lr_dir / 'birdx4.png'), np.zeros((10, 12, 3), np.uint8))
    proc = call(budget, *cmd)
    assert proc.returncode == 2
    assert (f'error: {lr_dir}/birdx4.png is 12x10, but its HR image {bench}/HR/bird.png (288x288) downscaled x4 is '
            '72x72; write the LR images again from HR (scripts/data_preparation/prepare_benchmark.py).') in proc.stderr
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'experiments').exists()


@pytest.mark.slow
def test_budget_compare_stops_when_a_trained_model_cannot_be_scored(tmp_path, in_tmp, call):
    bench = tmp_path / 'Tiny'
    for sub, name, size in (('HR', 'dot.png', 4), ('LR_bicubic/X4', 'dotx4.png', 1)):
        (bench / sub).mkdir(parents=True)
        cv2.imwrite(str(bench / sub / name), np.full((size, size, 3), 128, np.uint8))
    # The pooling CAGM needs 2x2 LR pixels: training on 8x8 patches works, scoring the 1x1 image fails.
    models = [write_yaml(tmp_path / f'{name}.yml', {'name': name, 'model_type': 'IGANModel', 'network_g': {
        'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 1, 'num_block': 1, 'cagm': 'pool'}})
        for name in ('one', 'two')]
    out = tmp_path / 'out'
    proc = call(budget, *models, '--base', budget_base(tmp_path), '--seeds', '1', '--iters', '2',
                '--benchmark', str(bench), '--out', str(out))
    tag = budget.run_tag(str(out))
    assert proc.returncode == 1
    assert f'{out}/logs/budget_one_seed1_{tag}.yml: measuring failed (exit 1)' in proc.stderr
    assert "IGAN (cagm='pool') needs an LR input of at least 2x2 pixels" in proc.stderr
    assert 'No table written' in proc.stderr
    assert not (out / 'budget.md').exists() and not (out / 'budget.csv').exists()
    assert (tmp_path / 'experiments' / f'budget_one_seed1_{tag}' / 'models' / 'net_g_latest.pth').is_file()
    assert not (out / 'logs' / f'budget_two_seed1_{tag}.log').exists()


@pytest.mark.slow
def test_budget_compare_trains_every_model_per_seed_and_scores_the_trained_weights(tmp_path, in_tmp, call):
    # A peer file's released weights are for testing: training starts from scratch all the same.
    igan = write_yaml(tmp_path / 'igan.yml', {'name': 'igan', 'model_type': 'IGANModel', 'network_g': {
        'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 1, 'num_block': 1},
        'path': {'pretrain_network_g': 'experiments/pretrained_models/IGAN_x4.pth'}})
    edsr = write_yaml(tmp_path / 'edsr.yml', {'name': 'edsr', 'model_type': 'SRModel', 'network_g': {
        'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_block': 2, 'upscale': 4}})
    out = tmp_path / 'out'
    cmd = [igan, edsr, '--base', budget_base(tmp_path), '--seeds', '1', '2', '--iters', '2', '--benchmark', SET5,
           '--size', '16x16', '--jobs', '2', '--out', str(out)]
    proc = call(budget, *cmd)
    assert proc.returncode == 0, proc.stderr
    assert 'training runs: 100%' in proc.stderr
    rows = {r['name']: r for r in read_csv(out / 'budget.csv')}
    assert set(rows) == {'igan', 'edsr', 'Bicubic'}
    trained = ['igan', 'edsr']
    for name, row in ((n, rows[n]) for n in trained):
        for seed in (1, 2):
            run_name = f'budget_{name}_seed{seed}_{budget.run_tag(str(out))}'
            merged = yaml.safe_load((out / 'logs' / f'{run_name}.yml').read_text())
            # --iters 2 over a base of 3 iterations with the lr halved at 100: the milestone scales along.
            assert merged['manual_seed'] == seed and merged['train']['total_iter'] == 2
            assert merged['train']['scheduler']['milestones'] == [67]
            assert 'val' not in merged and list(merged['datasets']) == ['train']
            assert merged['path']['pretrain_network_g'] is None
            ckpt = tmp_path / 'experiments' / run_name / 'models' / 'net_g_latest.pth'
            net = build_network(dict(merged['network_g']))
            net.load_state_dict(extract_state_dict(load_checkpoint(str(ckpt)), str(ckpt)), strict=True)
            assert float(row[f'Set5_psnr_seed{seed}']) == pytest.approx(set5_scores(net)[0], abs=SCORE_TOLERANCE)
    # Each seed's ranks order the models by that seed's PSNR (one benchmark: its mean), best first; two iterations
    # leave both models below the Bicubic row.
    md = (out / 'budget.md').read_text()
    for seed in (1, 2):
        by_psnr = sorted(rows, key=lambda n: -float(rows[n][f'Set5_psnr_seed{seed}']))
        assert [rows[n][f'rank_seed{seed}'] for n in by_psnr] == ['1', '2', '3'] and by_psnr[0] == 'Bicubic'
        assert f"seed {seed}: {' > '.join(by_psnr)}" in md
    # Different seeds, different initial weights and patches: different scores.
    assert rows['igan']['Set5_psnr_seed1'] != rows['igan']['Set5_psnr_seed2']
    # One benchmark: a seed's mean is its Set5 PSNR. Differences are paired by seed, against the first file.
    psnr = {n: [float(rows[n][f'Set5_psnr_seed{s}']) for s in (1, 2)] for n in rows}
    diffs = [e - i for e, i in zip(psnr['edsr'], psnr['igan'])]
    assert float(rows['edsr']['sd_psnr']) == pytest.approx(abs(psnr['edsr'][0] - psnr['edsr'][1]) / 2 ** 0.5)
    assert float(rows['edsr']['diff_psnr']) == pytest.approx(sum(diffs) / 2)
    assert float(rows['edsr']['diff_sd_psnr']) == pytest.approx(abs(diffs[0] - diffs[1]) / 2 ** 0.5)
    assert float(rows['igan']['diff_psnr']) == 0
    assert 'Equal budget: 2 iterations each' in md and 'Ranking by mean PSNR: seed 1:' in md
    if rows['igan']['rank_seed1'] == rows['igan']['rank_seed2']:
        assert '(the same for every seed).' in md
    else:
        by_mean = sorted(trained, key=lambda n: -float(rows[n]['mean_psnr']))
        assert (f"(NOT the same across seeds; pairs whose order changes: {' / '.join(by_mean)}; the order every "
                f"seed agrees on, ties in brackets: Bicubic > ({' = '.join(by_mean)})).") in md
    assert (out / 'budget.png').is_file()

    # --reuse keeps the runs that trained to the end with the same options: nothing is trained again.
    checkpoints = sorted((tmp_path / 'experiments').glob('*/models/net_g_latest.pth'))
    stamps = [p.stat().st_mtime_ns for p in checkpoints]
    assert call(budget, *cmd, '--reuse').returncode == 0
    assert sorted((tmp_path / 'experiments').glob('*/models/net_g_latest.pth')) == checkpoints
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps
    again = {r['name']: r for r in read_csv(out / 'budget.csv')}
    assert [again[n]['Set5_psnr_seed1'] for n in rows] == [rows[n]['Set5_psnr_seed1'] for n in rows]

    # A comparison written elsewhere trains runs of its own and leaves this one's weights alone, so --reuse
    # here still scores what this folder's logs describe.
    other = [igan] + [str(tmp_path / 'other') if a == str(out) else a for a in cmd[2:]]
    assert call(budget, *other, '--seeds', '1', '--iters', '1').returncode == 0
    assert len(list((tmp_path / 'experiments').glob('*/models/net_g_latest.pth'))) == len(checkpoints) + 1
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps
    assert call(budget, *cmd, '--reuse').returncode == 0
    assert [p.stat().st_mtime_ns for p in checkpoints] == stamps
    assert read_csv(out / 'budget.csv') == list(again.values())


@pytest.mark.slow
def test_budget_compare_speed_switches_train_the_peers_to_the_same_weights(tmp_path, in_tmp, call):
    edsr = write_yaml(tmp_path / 'edsr.yml', {'name': 'edsr', 'model_type': 'SRModel', 'network_g': {
        'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_block': 2, 'upscale': 4}})
    weights = {}
    for flags, switches, named in (([], {}, None), (['--channels-last'], {'channels_last': True},
                                                      'every model trained channels_last (NHWC).'),
                                   (['--compile'], {'compile': True}, 'every model trained compiled (torch.compile).')):
        out = tmp_path / (flags[0][2:] if flags else 'plain')
        proc = call(budget, edsr, '--base', budget_base(tmp_path), '--seeds', '1', '--iters', '2', '--benchmark', SET5,
                    '--size', '16x16', '--out', str(out), *flags)
        assert proc.returncode == 0, proc.stderr
        run_name = f'budget_edsr_seed1_{budget.run_tag(str(out))}'
        merged = yaml.safe_load((out / 'logs' / f'{run_name}.yml').read_text())
        assert merged['model_type'] == ('SwitchSRModel' if flags else 'SRModel')
        assert {key: merged[key] for key in budget.SWITCHES if key in merged} == switches
        table = (out / 'budget.md').read_text()
        assert (named in table) if named else 'every model trained' not in table
        log = (out / 'logs' / f'{run_name}.log').read_text()
        assert ('EDSR runs with ' + ', '.join(switches) + '.' in log) if flags else ' runs with ' not in log
        ckpt = str(tmp_path / 'experiments' / run_name / 'models' / 'net_g_latest.pth')
        weights[tuple(flags)] = extract_state_dict(load_checkpoint(ckpt), ckpt)
    # The same seed and patches: NHWC and compiled kernels change only the order of the sums.
    for flags, trained in weights.items():
        assert trained.keys() == weights[()].keys()
        for key, value in weights[()].items():
            torch.testing.assert_close(trained[key], value, rtol=0, atol=1e-5)

    swinir = write_yaml(tmp_path / 'swinir.yml', {'name': 'swinir', 'model_type': 'SwinIRModel', 'network_g': {
        'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_block': 2, 'upscale': 4}})
    with pytest.raises(budget.OptionError, match=r"swinir.yml: with --channels-last and --compile every model trains "
                       r"with the switches of SwitchSRModel; model_type 'SwinIRModel' is neither SRModel nor a "
                       r"SwitchSRModel\."):
        budget.merged_runs(budget_base(tmp_path), [swinir], [1], switches=('channels_last', 'compile'))


def test_budget_compare_switches_keep_a_files_own_compile_arguments(tmp_path):
    net = {'type': 'EDSR', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_block': 2, 'upscale': 4}
    tuned = write_yaml(tmp_path / 'tuned.yml', {'name': 'tuned', 'model_type': 'SRModel', 'network_g': net,
                                                'compile': {'mode': 'reduce-overhead'}})
    plain = write_yaml(tmp_path / 'plain.yml', {'name': 'plain', 'model_type': 'IGANModel', 'network_g': net})
    runs = budget.merged_runs(budget_base(tmp_path), [tuned, plain], [1], switches=('channels_last', 'compile'))
    assert [(name, opt['model_type'], opt['channels_last'], opt['compile']) for name, _, _, opt in runs] == [
        ('tuned', 'SwitchSRModel', True, {'mode': 'reduce-overhead'}), ('plain', 'IGANModel', True, True)]


def test_the_budget_table_names_the_pairs_the_seeds_disagree_on_and_the_order_they_agree_on():
    # The 5000-iteration rankings in the README: only IGAN_self moves.
    orders = {10: ['IGAN_self', 'EDSR_small', 'IGAN_none', 'IGAN_growth', 'RCAN_small'],
              11: ['EDSR_small', 'IGAN_none', 'IGAN_growth', 'IGAN_self', 'RCAN_small']}
    names = ['EDSR_small', 'IGAN_none', 'IGAN_self', 'IGAN_growth', 'RCAN_small']
    assert budget.changed_pairs(orders, names) == [
        'EDSR_small / IGAN_self', 'IGAN_none / IGAN_self', 'IGAN_self / IGAN_growth']
    assert budget.changed_pairs({10: orders[11], 11: list(orders[11])}, names) == []
    # What both seeds agree on: IGAN_self's move ties it with the three it changes places with, RCAN_small stays last.
    assert budget.agreed_tiers(orders, names) == [
        ['EDSR_small', 'IGAN_none', 'IGAN_self', 'IGAN_growth'], ['RCAN_small']]
    assert budget.agreed_tiers({10: orders[11], 11: list(orders[11])}, orders[11]) == [[n] for n in orders[11]]
    # The 10000-iteration rankings: two pairs swap, each a tie of its own.
    tenk = {10: ['IGAN_self', 'IGAN_none', 'EDSR_small', 'IGAN_growth', 'RCAN_small'],
            11: ['IGAN_none', 'IGAN_self', 'IGAN_growth', 'EDSR_small', 'RCAN_small']}
    assert budget.agreed_tiers(tenk, tenk[10]) == [
        ['IGAN_self', 'IGAN_none'], ['EDSR_small', 'IGAN_growth'], ['RCAN_small']]


@pytest.mark.slow
def test_budget_compare_resumes_a_run_cut_short_to_the_weights_of_an_uninterrupted_one(tmp_path, in_tmp, call):
    igan = write_yaml(tmp_path / 'igan.yml', {'name': 'igan', 'model_type': 'IGANModel', 'network_g': {
        'type': 'IGAN', 'upscale': 4, 'num_feat': 8, 'num_group': 1, 'num_block': 1}})
    args = [igan, '--base', budget_base(tmp_path, iters=300, save_every=5), '--seeds', '3', '--benchmark', SET5,
            '--size', '16x16']
    cut, whole = tmp_path / 'cut', tmp_path / 'whole'
    run_name = f'budget_igan_seed3_{budget.run_tag(str(cut))}'
    states = tmp_path / 'experiments' / run_name / 'training_states'
    log = cut / 'logs' / f'{run_name}.log'
    # A process of its own, killed (with its trainer) as soon as the first training state is on disk, as a lost
    # machine would be.
    proc = subprocess.Popen([sys.executable, BUDGET, *args, '--out', str(cut)], cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(states.glob('*.state')) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 'End of training.' not in log.read_text()
    kept = max(int(p.stem) for p in states.glob('*.state'))

    assert call(budget, *args, '--out', str(cut), '--reuse').returncode == 0
    text = log.read_text()
    assert text.count('Start training from epoch: 0, iter: 0') == 1
    assert re.search(rf'Resuming training from epoch: \d+, iter: {kept}\.', text) and 'End of training.' in text
    assert call(budget, *args, '--out', str(whole)).returncode == 0
    # One process, no loader workers: resuming restores every RNG and the place in the epoch, so the weights are
    # the uninterrupted run's, bit for bit.
    resumed, uninterrupted = (
        load_checkpoint(str(tmp_path / 'experiments' / f'budget_igan_seed3_{budget.run_tag(str(out))}' / 'models'
                            / 'net_g_latest.pth'))['params'] for out in (cut, whole))
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    row, = [r for r in read_csv(cut / 'budget.csv') if r['name'] == 'igan']
    assert row['Set5_psnr_seed3'] == [r for r in read_csv(whole / 'budget.csv') if r['name'] == 'igan'][0][
        'Set5_psnr_seed3']
    assert float(row['train_min_seed3']) > 0


def test_training_time_of_a_resumed_run_sums_its_attempts_up_to_the_state_resumed_from():
    log = """2026-01-01 10:00:00,000 INFO: Start training from epoch: 0, iter: 0
2026-01-01 10:05:00,000 INFO: Saving models and training states.
2026-01-01 10:09:00,000 INFO: [run..][epoch:  0, iter:   900, lr:(1.0e-04,)] l_pix: 2.0e-02
2026-01-01 11:00:00,000 INFO: Resuming training from epoch: 0, iter: 500.
2026-01-01 11:00:00,500 INFO: Start training from epoch: 0, iter: 500
2026-01-01 11:07:30,500 INFO: End of training. Time consumed: 0:07:30
2026-01-01 11:07:31,000 INFO: Save the latest model.
"""
    assert budget.training_seconds(log) == 5 * 60 + 7.5 * 60
    assert budget.training_seconds(log.split('2026-01-01 11:00:00,000')[0]) == 5 * 60
    # No state was left to resume from (the experiment folder was removed): the run started over.
    afresh = log.replace('Resuming training from epoch: 0, iter: 500.', 'No training state found.').replace(
        'Start training from epoch: 0, iter: 500', 'Start training from epoch: 0, iter: 0')
    assert budget.training_seconds(afresh) == 7.5 * 60


def test_budget_compare_refuses_unequal_budgets(tmp_path, in_tmp, call):
    base = budget_base(tmp_path)
    longer = write_yaml(tmp_path / 'longer.yml', {'name': 'longer', 'network_g': RCAN_TINY,
                                                  'train': dict(yaml.safe_load(open(base))['train'], total_iter=9)})
    plain = write_yaml(tmp_path / 'plain.yml', {'name': 'plain', 'network_g': RCAN_TINY})
    proc = call(budget, plain, longer, '--base', base, '--benchmark', SET5, '--out', str(tmp_path / 'o'))
    assert proc.returncode == 2
    assert "longer.yml: train.total_iter differs from" in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'experiments').exists()


def test_bench_arch_prints_the_efficiency_ratio(call):
    proc = call(bench_arch, '--num-feat', '16', '--igan', '2', '2', '--rcan', '1', '4', '--batch', '1', '--patch', '12',
                '--rounds', '2')
    rows = {name: [float(v) for v in values] for name, *values in re.findall(
        r'^(IGAN|RCAN)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$', proc.stdout, re.M)}
    assert list(rows) == ['IGAN', 'RCAN']
    nets = {'IGAN': dict(IGAN_G2B2, num_feat=16), 'RCAN': dict(RCAN_TINY, num_group=1, num_block=4)}
    for name, (params_m, _, _, ns_per_kflop) in rows.items():
        assert params_m == pytest.approx(sum(p.numel() for p in build_network(nets[name]).parameters()) / 1e6,
                                         abs=0.005)
        assert ns_per_kflop > 0
    ratio, verdict = re.search(r'^IGAN time per FLOP / RCAN time per FLOP = ([\d.]+) \((\w+) the 1\.10 bar\)$',
                               proc.stdout, re.M).groups()
    # The ratio of the printed times per FLOP, printed to 3 decimals.
    assert float(ratio) == pytest.approx(rows['IGAN'][3] / rows['RCAN'][3], abs=6e-4)
    # The verdict is taken on the unrounded ratio: only a printed 1.100 could be either.
    assert verdict == ('within' if float(ratio) < 1.10 else 'OUTSIDE') or ratio == '1.100'


def test_the_peers_train_under_the_reference_protocol():
    """budget_compare.py --base options/train_IGAN_x4.yml options/compare/*_x4.yml: IGAN's data and schedule,
    each peer's own network and model type, from scratch."""
    reference = os.path.join(REPO, 'options', 'train_IGAN_x4.yml')
    with open(reference) as f:
        protocol = yaml.safe_load(f)
    peers = [os.path.join(REPO, 'options', 'compare', f'{name}_x4.yml') for name in ('EDSR', 'RCAN', 'SwinIR')]
    runs = budget.merged_runs(reference, peers, [10])
    assert [(r[3]['model_type'], r[3]['network_g']['type']) for r in runs] == [
        ('SwitchSRModel', 'EDSR'), ('SwitchSRModel', 'RCAN'), ('SwinIRModel', 'SwinIR')]
    for (_, path, _, run), peer in zip(runs, peers):
        with open(peer) as f:
            assert run['network_g'] == yaml.safe_load(f)['network_g']
        assert run['datasets'] == {'train': protocol['datasets']['train']} and run['train'] == protocol['train']
        assert run['path']['pretrain_network_g'] is None and run['manual_seed'] == 10


def test_the_budget_schedule_stretches_to_the_requested_iterations():
    """--iters 5000 over options/compare/budget_train_x4.yml: basicsr's cosine runs to the last iteration and
    ends near zero (a period left at the file's 1500 would stop the trainer at iteration 1501)."""
    from basicsr.models.lr_scheduler import CosineAnnealingRestartLR
    base = os.path.join(REPO, 'options', 'compare', 'budget_train_x4.yml')
    small = os.path.join(REPO, 'options', 'compare', 'small', 'IGAN_growth_x4.yml')
    (_, _, _, run), = budget.merged_runs(base, [small], [10], iters=5000)
    train = run['train']
    assert train['total_iter'] == 5000 and train['scheduler']['periods'] == [5000]
    scheduler_opt = dict(train['scheduler'])
    assert scheduler_opt.pop('type') == 'CosineAnnealingRestartLR'
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=train['optim_g']['lr'])
    scheduler = CosineAnnealingRestartLR(optimizer, **scheduler_opt)
    lrs = []
    for _ in range(train['total_iter']):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]['lr'])
    assert lrs[0] == pytest.approx(5e-4, rel=1e-3) and lrs[2499] == pytest.approx(2.5e-4, rel=1e-2)
    assert lrs[-1] == pytest.approx(1e-7, rel=1e-3)


def test_stretched_restart_periods_cover_every_iteration():
    train = {'total_iter': 3, 'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [1, 1, 1],
                                            'restart_weights': [1, 1, 1]}}
    assert budget.with_iterations(train, 4)['scheduler']['periods'] == [1, 2, 1]
    assert budget.with_iterations(train, 3000)['scheduler']['periods'] == [1000, 1000, 1000]
    steps = {'total_iter': 300, 'scheduler': {'type': 'MultiStepLR', 'milestones': [100, 200]}}
    assert budget.with_iterations(steps, 1000)['scheduler']['milestones'] == [333, 667]


@pytest.mark.slow
def test_a_model_that_fails_to_measure_ends_the_comparison_with_its_error_and_no_table(tmp_path, two_models, call):
    """A checkpoint that loads weights-only but does not fit its network fails inside the measuring process."""
    misfit = write_yaml(tmp_path / 'misfit.yml', {'name': 'misfit', 'model_type': 'SRModel', 'scale': 4,
                                                  'network_g': RCAN_TINY, 'path': {'pretrain_network_g': RELEASED_X4}})
    out = tmp_path / 'out'
    # After a model measured without a problem (rcan_tiny: no checkpoint, so not scored): its row is not written.
    proc = call(compare, two_models[1], misfit, '--runs', '1', '--benchmark', SET5, '--out', str(out))
    assert proc.returncode == 1 and re.search(r'^rcan_tiny: [\d.]+ M params', proc.stdout, re.M)
    assert re.search(r'compare_models\.py: error: \S*misfit\.yml: measuring failed \(exit 1\)', proc.stderr)
    assert proc.stderr.rstrip().endswith('No table written.')
    assert not (out / 'compare.md').exists() and not (out / 'compare.csv').exists()


def test_a_table_being_rewritten_stays_whole_until_the_new_one_is_complete(tmp_path):
    columns = [('name', 'model', None), ('psnr', 'PSNR', '.2f')]
    write_table(str(tmp_path), 'table', columns, [{'name': 'igan', 'psnr': 30.0}])
    before = (tmp_path / 'table.md').read_text()
    with pytest.raises(OSError, match='disk full'):
        with replacing(str(tmp_path / 'table.md')) as partial, open(partial, 'w') as f:
            f.write('| model |')
            raise OSError('disk full')
    assert (tmp_path / 'table.md').read_text() == before and '| igan | 30.00 |' in before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['table.csv', 'table.md']


@pytest.mark.parametrize('script, args, message', [
    (compare, ['--profile-only', '--benchmark', SET5],
     '--benchmark scores checkpoints and --profile-only ignores them: drop one of the two.'),
    (bench_tiling, ['--tile', '40', '--no-weights', '--benchmark', SET5],
     '--no-weights measures time and memory only: drop it, or drop --benchmark and --weights.'),
], ids=['compare_models', 'bench_tiling'])
def test_options_that_would_be_ignored_are_refused(tmp_path, two_models, call, script, args, message):
    proc = call(script, two_models[0], *args, '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2 and proc.stderr.strip().endswith(f'error: {message}')
    assert not (tmp_path / 'out').exists()
