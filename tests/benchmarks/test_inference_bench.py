"""scripts/benchmarks/inference.py: `tiling` measures whole and tiled inference of one model in fresh processes,
with the PSNR cost of tiles and a Bicubic row when it scores; `engines` times PyTorch and onnxruntime whole and
tiled; options that would be ignored, and models that cannot tile, are refused on one line."""
import csv
import os
import re

import pytest
from conftest import FIXTURES, SET5, plugins_on_path, write_plugin_packages, write_yaml

from scripts.benchmarks import inference

RELEASED = {'name': 'released', 'model_type': 'IGANModel', 'scale': 4,
            'network_g': {'type': 'IGAN', 'upscale': 4, 'num_group': 2, 'num_block': 2},
            'path': {'pretrain_network_g': os.path.join(FIXTURES, 'official_x4_g2b2.pth')}}


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_tiling_reports_memory_and_the_psnr_cost_of_tiles(tmp_path, call):
    out = tmp_path / 'out'
    proc = call(inference, 'tiling', write_yaml(tmp_path / 'released.yml', RELEASED), '--tile', '40', '--tile-pad',
                '4', '--size', '64x48', '--benchmark', SET5, '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    whole, tiled, bicubic = read_rows(out / 'tiling.csv')
    assert (whole['variant'], tiled['variant'], bicubic['variant']) == ('whole image', 'tiles 40+4', 'Bicubic')
    assert whole['out_size'] == tiled['out_size'] == bicubic['out_size'] == '256x192'
    # MATLAB bicubic of the same LR images, as papers print it for Set5 x4 (28.42-28.43 dB); no delta to whole.
    assert round(float(bicubic['Set5_psnr']), 2) == 28.43 and bicubic['Set5_dpsnr'] == ''
    assert float(tiled['Set5_dpsnr']) == pytest.approx(float(tiled['Set5_psnr']) - float(whole['Set5_psnr']))
    assert float(tiled['Set5_dpsnr']) != 0  # Set5's LR images are all larger than 40 pixels: every one is tiled
    # Tiles overlap: more FLOPs than the whole image, and none for bicubic.
    assert float(tiled['gflops']) > float(whole['gflops']) > 0 == float(bicubic['gflops'])
    assert 'delta = tiled - whole' in proc.stdout
    assert f"weights: {RELEASED['path']['pretrain_network_g']}." in proc.stdout


@pytest.mark.parametrize('opt, args, says', [
    ({'model_type': 'SRModel'}, ['--no-weights'],
     'sr.yml: model_type SRModel has no tiled inference; use SwitchSRModel (or IGANModel for IGAN)'),
    ({}, ['--no-weights', '--benchmark', SET5],
     '--no-weights measures time and memory only: drop it, or drop --benchmark and --weights.'),
    ({'path': {'pretrain_network_g': 'nowhere.pth'}}, [],
     'nowhere.pth: checkpoint not found (give --weights, or --no-weights for memory only).'),
])
def test_tiling_refuses_what_it_cannot_measure_or_would_ignore(opt, args, says, tmp_path, call):
    path = write_yaml(tmp_path / 'sr.yml', dict(RELEASED, **opt))
    proc = call(inference, 'tiling', path, '--tile', '40', '--size', '16x16', *args, '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2 and proc.stderr.startswith('inference tiling: error: ') and says in proc.stderr
    assert proc.stderr.count('\n') == 1 and not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_tiling_measures_an_import_only_plugin_in_its_processes(tmp_path, call, monkeypatch):
    silent = ('tiling_silent', 'TilingSilentNet')
    plugins_on_path(write_plugin_packages(tmp_path, [], [silent]), monkeypatch)
    opt = write_yaml(tmp_path / 'silent.yml', {'name': silent[1], 'model_type': 'SwitchSRModel', 'scale': 4,
                                               'network_g': {'type': silent[1], 'upscale': 4, 'num_feat': 8}})
    proc = call(inference, 'tiling', opt, '--import', silent[0], '--tile', '8', '--tile-pad', '2', '--size', '16x16',
                '--no-weights', '--out', str(tmp_path / 'out'))
    assert proc.returncode == 0, proc.stderr
    rows = read_rows(tmp_path / 'out' / 'tiling.csv')
    assert [r['variant'] for r in rows] == ['whole image', 'tiles 8+2']  # not scored: no Bicubic row
    assert f'{silent[1]} ({silent[1]}, x4) on CPU' in (tmp_path / 'out' / 'tiling.md').read_text()


@pytest.mark.slow
def test_engines_times_both_engines_whole_and_tiled(call):
    proc = call(inference, 'engines', '--size', '32x24', '--tile', '16', '--tile-pad', '2', '--num-feat', '8',
                '--num-group', '1', '--num-block', '1')
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {(engine, label): (float(s), float(rate)) for engine, label, s, rate in re.findall(
        r'^(PyTorch|onnxruntime)\s+(whole image|tiles 16\+2)\s+([\d.]+) s\s+([\d.]+) MP/s$', proc.stdout, re.M)}
    assert sorted(rows) == sorted((e, v) for e in ('PyTorch', 'onnxruntime') for v in ('whole image', 'tiles 16+2'))
    assert all(rate > 0 for _, rate in rows.values())
    # Each ratio printed (2 decimals) is that of the rates printed (4 decimals) above it.
    ratios = re.findall(r'^(.+): (onnxruntime / PyTorch|tiles 16\+2 / whole image) = ([\d.]+)x$', proc.stdout, re.M)
    assert len(ratios) == 4
    for subject, pair, ratio in ratios:
        if pair == 'onnxruntime / PyTorch':
            a, b = rows['onnxruntime', subject][1], rows['PyTorch', subject][1]
        else:
            a, b = rows[subject, 'tiles 16+2'][1], rows[subject, 'whole image'][1]
        assert float(ratio) == pytest.approx(a / b, abs=0.0051 + 5e-5 / b + 5e-5 * a / b ** 2)
