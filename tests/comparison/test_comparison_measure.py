"""igan_basicsr.comparison.measure: one model's size, cost and per-image scores through basicsr's test path, in
this process or a fresh one; the bicubic row; the --weights OPTION_FILE=CHECKPOINT arguments."""
import argparse

import numpy as np
import pytest
import torch
import yaml
from basicsr.archs import build_network
from comparison_helpers import ANNOUNCED, IMPORT_REFUSED, plugin_options, plugin_packages, set5_bicubic
from conftest import SET5

from igan_basicsr.comparison import measure
from igan_basicsr.plugins import load_plugins

# The plugin network at 8 features: conv 3->8 and conv 8->48 (3x3, with biases), then a x4 pixel shuffle.
PLUGIN_PARAMS = 3 * 8 * 9 + 8 + 8 * 48 * 9 + 48


@pytest.fixture
def plugins(made_once, monkeypatch):
    return plugin_packages(made_once, monkeypatch)


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
    assert result['runs'] == 3 and result['latency_min_ms'] <= result['latency_ms'] <= result['latency_max_ms']
    assert result['output_shape'] == [1, 3, 96, 128] and result['size'] == '32x24'


def test_a_model_without_weights_is_profiled_and_not_scored(tmp_path, plugins):
    opt = plugin_options(tmp_path, ANNOUNCED[1], weights=False)
    load_plugins()
    result = measure.run(opt, (16, 16), 1, [SET5], device='cpu')
    assert result['metrics'] == {} and result['per_image'] == {} and result['weights'] is None
    assert result['params'] == PLUGIN_PARAMS and result['output_shape'] == [1, 3, 64, 64]
    # Two convolutions over the 16x16 input: 2 FLOPs per multiply-add.
    assert result['flops'] == 2 * 16 * 16 * (8 * 3 * 9 + 48 * 8 * 9)


@pytest.mark.slow
def test_a_fresh_process_measures_with_the_options_given(tmp_path, plugins):
    """measure() passes its options to the measuring process: the tile, the device, no weights."""
    opt = plugin_options(tmp_path, ANNOUNCED[1], seed=3)
    result = measure.measure(opt, (16, 16), 1, [SET5], use_weights=False, device='cpu', tile=8, tile_pad=2)
    assert result['weights'] is None and result['metrics'] == {} and result['device_type'] == 'cpu'
    assert (result['val']['tile'], result['val']['tile_pad']) == (8, 2) and result['params'] == PLUGIN_PARAMS
    with pytest.raises(measure.MeasureFailed, match=r'(?s)bicubic_x4\.yml: measuring failed \(exit 2\):\n.*model_type '
                       'SRModel has no tiled inference; use SwitchSRModel'):
        measure.measure(measure.bicubic_option_file(str(tmp_path), 4), (8, 8), 0, tile=4)


def test_measure_names_a_module_that_does_not_import(tmp_path, call):
    proc = call(measure, measure.bicubic_option_file(str(tmp_path), 4), '--json', str(tmp_path / 'r.json'),
                '--import', 'no_such_eco_plugin')
    assert proc.returncode == 2 and not (tmp_path / 'r.json').exists()
    assert proc.stderr == IMPORT_REFUSED


def test_weights_assignments_are_read_and_checked(capsys):
    assert measure.parse_weights_for('a.yml=b/c.pth') == measure.WeightsFor('a.yml', 'b/c.pth')
    with pytest.raises(argparse.ArgumentTypeError, match=r"'a.yml' is not OPTION_FILE=CHECKPOINT"):
        measure.parse_weights_for('a.yml')
    parser = argparse.ArgumentParser(prog='compare')
    assert measure.weights_by_file(parser, [measure.WeightsFor('a.yml', 'w.pth')], ['a.yml', 'b.yml']) == {
        'a.yml': 'w.pth'}
    for assignments, message in (
            ([('c.yml', 'w.pth')], '--weights c.yml=w.pth: c.yml is not one of the option files compared; name it '
             'as on the command line.'),
            ([('a.yml', 'w.pth'), ('a.yml', 'v.pth')], '--weights names a.yml twice.')):
        with pytest.raises(SystemExit) as exit:
            measure.weights_by_file(parser, [measure.WeightsFor(*a) for a in assignments], ['a.yml'])
        assert exit.value.code == 2 and capsys.readouterr().err.endswith(f'compare: error: {message}\n')


def test_the_bicubic_option_file_builds_a_network_without_parameters(tmp_path):
    path = measure.bicubic_option_file(str(tmp_path), 8)
    opt = yaml.safe_load(open(path))
    assert opt['network_g'] == {'type': 'MatlabBicubic', 'upscale': 8} and opt['name'] == 'Bicubic'
    net = build_network(opt['network_g'])
    assert list(net.parameters()) == []
    assert tuple(net(torch.rand(2, 3, 5, 6)).shape) == (2, 3, 40, 48)
