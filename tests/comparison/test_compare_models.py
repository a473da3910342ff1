"""scripts/comparison/compare_models.py (with igan_basicsr.comparison.compare_report): every model measured in its
own process, the table, its notes and the plot; every input problem refused before any model runs; the peers'
option files at paper size."""
import os
import re

import numpy as np
import pytest
import torch
import yaml
from basicsr.archs import build_network
from basicsr.models import build_model
from comparison_helpers import (
    ANNOUNCED,
    IGAN_G2B2,
    IMPORT_REFUSED,
    RCAN_TINY,
    RELEASED_X4,
    SILENT,
    model_options,
    plugin_options,
    plugin_packages,
    png_size,
    read_csv,
    run_script,
    script_run,
    set5_bicubic,
    working_in,
)
from conftest import REPO, SCORE_TOLERANCE, SET5, set5_scores, write_yaml

from igan_basicsr.comparison import compare_report
from igan_basicsr.comparison.report import subplots
from igan_basicsr.plugins import load_plugins
from scripts.comparison import compare_models as compare

SIZE, RUNS = (40, 24), 3


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


def released_igan():
    """The released fixture's network, loaded by the model's own converter."""
    return build_model({'model_type': 'IGANModel', 'is_train': False, 'num_gpu': 0, 'dist': False, 'scale': 4,
                        'network_g': dict(IGAN_G2B2), 'path': {'pretrain_network_g': RELEASED_X4}}).net_g


def plugin_network(arch, checkpoint):
    """A plugin network with `checkpoint`'s weights, both packages imported here."""
    load_plugins([SILENT[0]])
    net = build_network({'type': arch, 'upscale': 4, 'num_feat': 8})
    net.load_state_dict(torch.load(checkpoint, weights_only=True)['params'])
    return net


def compare_all(folder, plugins):
    """The comparison the slow tests read: the released IGAN, a tiny RCAN without weights, a network of an announced
    plugin scored with --weights and one of a plugin reached by --import only with its file's checkpoint, on Set5
    (so with a Bicubic row)."""
    with working_in(folder, plugins):
        igan = model_options(folder, 'igan_released', IGAN_G2B2, scale=4, path={'pretrain_network_g': RELEASED_X4})
        rcan = model_options(folder, 'rcan_tiny', RCAN_TINY, 'SRModel', scale=4)
        announced = plugin_options(folder, ANNOUNCED[1], weights=False)
        silent = plugin_options(folder, SILENT[1], seed=1)
        torch.manual_seed(0)
        torch.save({'params': build_network({'type': ANNOUNCED[1], 'upscale': 4, 'num_feat': 8}).state_dict()},
                   folder / 'trained.pth')
        run_script(folder, 'compare', compare, igan, rcan, announced, silent, '--import', SILENT[0], '--weights',
                   f"{announced}={folder / 'trained.pth'}", '--benchmark', SET5, '--size', '{}x{}'.format(*SIZE),
                   '--runs', RUNS, '--out', folder / 'out')


@pytest.fixture
def compared(made_once, monkeypatch):
    """The folder of compare_all's run (made once per test run; only to be read), the plugins importable here."""
    plugins = plugin_packages(made_once, monkeypatch)
    folder = made_once('compare_models_run', lambda f: compare_all(f, plugins))
    done = script_run(folder, 'compare')
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.slow
def test_every_model_is_measured_and_scored_with_its_own_weights(compared):
    rows = {r['name']: r for r in read_csv(compared / 'out' / 'compare.csv')}
    assert list(rows) == ['igan_released', 'rcan_tiny', ANNOUNCED[1], SILENT[1], 'Bicubic']
    nets = {'igan_released': released_igan(), 'rcan_tiny': build_network(dict(RCAN_TINY)),
            ANNOUNCED[1]: plugin_network(ANNOUNCED[1], compared / 'trained.pth'),
            SILENT[1]: plugin_network(SILENT[1], compared / f'{SILENT[1]}_1.pth')}
    for name, net in nets.items():
        assert float(rows[name]['params_m']) * 1e6 == pytest.approx(sum(p.numel() for p in net.parameters()))
        assert float(rows[name]['gflops']) * 1e9 == pytest.approx(conv_flops(net, (1, 3, SIZE[1], SIZE[0])))
    # --weights replaces the announced plugin's (absent) checkpoint; the --import one scores its file's own.
    for name in ('igan_released', ANNOUNCED[1], SILENT[1]):
        psnr, ssim = set5_scores(nets[name])
        assert float(rows[name]['Set5_psnr']) == pytest.approx(psnr, abs=SCORE_TOLERANCE)
        assert float(rows[name]['Set5_ssim']) == pytest.approx(ssim, abs=SCORE_TOLERANCE)
    bicubic = set5_bicubic().values()
    assert float(rows['Bicubic']['Set5_psnr']) == pytest.approx(np.mean([p for p, _ in bicubic]), abs=1e-12)
    assert float(rows['Bicubic']['Set5_ssim']) == pytest.approx(np.mean([s for _, s in bicubic]), abs=1e-12)
    assert float(rows['Bicubic']['params_m']) == float(rows['Bicubic']['gflops']) == 0
    for row in rows.values():
        assert row['scale'] == '4'
        assert 0 < float(row['latency_min_ms']) <= float(row['latency_ms']) <= float(row['latency_max_ms'])
        assert float(row['peak_mem_mib']) >= float(row['mem_before_inference_mib']) > 0


@pytest.fixture
def two_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the scripts' relative paths (results/, experiments/) land here
    igan = model_options(tmp_path, 'igan_released', IGAN_G2B2, scale=4, path={'pretrain_network_g': RELEASED_X4})
    rcan = model_options(tmp_path, 'rcan_tiny', RCAN_TINY, 'SRModel', scale=4)
    return igan, rcan


@pytest.mark.slow
def test_profile_only_ignores_checkpoints(tmp_path, two_models, call):
    missing = write_yaml(tmp_path / 'missing.yml', {'name': 'gone', 'scale': 4, 'network_g': RCAN_TINY,
                                                    'path': {'pretrain_network_g': 'nowhere/RCAN.pth'}})
    out = tmp_path / 'out'
    proc = call(compare, two_models[0], missing, '--profile-only', '--size', '16x16', '--runs', '1', '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out / 'compare.csv')
    assert [r['name'] for r in rows] == ['igan_released', 'gone']
    # No scores, not even the released weights': no score columns.
    assert list(rows[0])[-1] == 'mem_before_inference_mib' and 'not scored' in proc.stdout
    params = sum(p.numel() for p in build_network(dict(RCAN_TINY)).parameters())
    assert float(rows[1]['params_m']) * 1e6 == pytest.approx(params)
    assert 'Bicubic' not in (out / 'compare.md').read_text()
    assert png_size(out / 'compare.png') == (660, 552)  # the latency panel alone


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
    assert proc.stderr.rstrip().endswith("KeyError: 'params'\n\nNo table written.")  # the process's own error
    assert not (out / 'compare.md').exists() and not (out / 'compare.csv').exists()


@pytest.mark.slow
def test_a_model_without_weights_keeps_its_row_with_no_weights_for_its_scores(compared):
    row, = [r for r in read_csv(compared / 'out' / 'compare.csv') if r['name'] == 'rcan_tiny']
    assert row['Set5_psnr'] == row['Set5_ssim'] == '' and float(row['latency_ms']) > 0
    md = (compared / 'out' / 'compare.md').read_text()
    assert re.search(r'^\| rcan_tiny \| RCAN \| 4 \| 0\.0\d\d \| [\d.]+ \|( \d+ \|){5} no weights \| no weights \|$',
                     md, re.M)
    out = script_run(compared, 'compare').stdout
    assert re.search(r'^rcan_tiny: 0\.0\d M params, [\d.]+ GFLOPs, \d+ ms; not scored$', out, re.M)
    assert 'compare.png: not on the PSNR panels (no weights): rcan_tiny\n' in out


@pytest.mark.slow
def test_the_table_notes_say_how_each_figure_was_taken(compared):
    md = (compared / 'out' / 'compare.md').read_text()
    notes = md.split('\n\n')[0].splitlines()
    memory = ('peak memory = torch.cuda.max_memory_allocated' if torch.cuda.is_available() else
              'peak memory = ru_maxrss of a fresh process per model (imports + weights + inference; mem before '
              'inference = the same before the first forward)')
    assert notes[1:5] == [
        'FLOPs for a 40x24 LR input (torch.utils.flop_counter: convolutions and matrix products, one multiply-add = 2 '
        "FLOPs), through the model's own test() (tiles and padding included).  ",
        f'Latency: median (min-max) of 3 runs after one warm-up, batch 1, 40x24 LR input; {memory}.  ',
        'PSNR/SSIM: basicsr calculate_psnr/calculate_ssim on the Y channel, crop_border = scale; "no weights" = a '
        'model without a checkpoint (profiled only).  ',
        'Bicubic: MATLAB bicubic upscaling of the same LR images (basicsr.utils.matlab_functions.imresize), scored '
        'alike; no convolutions or matrix products, so 0 FLOPs counted.  ']
    if torch.cuda.is_available():
        assert notes[0] == f'Device: {torch.cuda.get_device_name()}.  '
    else:
        assert re.fullmatch(r'Device: CPU \(.+, \d+ threads\)\.  ', notes[0])
    assert md.split('\n\n')[1].splitlines()[0] == (
        '| model | arch | scale | params (M) | GFLOPs @40x24 | latency (ms) | min | max | peak mem (MiB) | mem before '
        'inference (MiB) | Set5 PSNR | Set5 SSIM |')


@pytest.mark.slow
def test_the_plot_and_the_progress_show_every_model(compared):
    # A 5.5 x 4.6 inch panel for Set5's PSNR, one for latency, at 120 dpi.
    assert png_size(compared / 'out' / 'compare.png') == (1320, 552)
    done = script_run(compared, 'compare')
    assert 'models: 100%' in done.stderr
    # Each model's line as it is measured: the figures of its row.
    for r in read_csv(compared / 'out' / 'compare.csv'):
        scores = f"Set5 {float(r['Set5_psnr']):.2f} dB" if r['Set5_psnr'] else 'not scored'
        assert (f"{r['name']}: {float(r['params_m']):.2f} M params, {float(r['gflops']):.1f} GFLOPs, "
                f"{float(r['latency_ms']):.0f} ms; {scores}\n") in done.stdout
    assert done.stdout.endswith(f"wrote compare.md, compare.csv and compare.png to {compared / 'out'}\n")


def test_the_latency_plot_starts_at_zero_with_the_runs_min_and_max_as_whiskers():
    fig, axes = subplots(1, (4, 3))
    rows = [{'name': 'a', 'params': 2e6, 'runs': 5, 'latency_ms': 100.0, 'latency_min_ms': 98.0,
             'latency_max_ms': 110.0},
            {'name': 'b', 'params': 1e6, 'runs': 5, 'latency_ms': 101.0, 'latency_min_ms': 99.5,
             'latency_max_ms': 103.0},
            {'name': 'untimed', 'params': 1e6, 'runs': 0, 'latency_ms': None}]
    ax = compare_report.plot_latency(axes[0][0], rows, '320x180')
    assert ax.get_ylim() == pytest.approx((0, 110 * 1.15))
    whiskers = [c.get_segments()[0] for c in ax.collections]
    assert [(seg[0][1], seg[1][1]) for seg in whiskers] == [(98.0, 110.0), (99.5, 103.0)]
    assert ax.get_title() == 'latency: median, whiskers min-max of 5 runs'


@pytest.fixture
def plugins(made_once, monkeypatch):
    return plugin_packages(made_once, monkeypatch)


def test_missing_checkpoint_is_reported_before_any_work(tmp_path, two_models, call):
    missing = write_yaml(tmp_path / 'missing.yml', {'name': 'gone', 'scale': 4, 'network_g': RCAN_TINY,
                                                    'path': {'pretrain_network_g': 'nowhere/RCAN.pth'}})
    proc = call(compare, *two_models, missing, '--benchmark', SET5, '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2
    assert proc.stderr == (f'compare_models.py: error: {missing}: path.pretrain_network_g nowhere/RCAN.pth not '
                           'found: download or train it, set it to ~ to profile this model without metrics, or pass '
                           '--profile-only.\n')
    assert not (tmp_path / 'out').exists()


class _Payload:
    """Unpickling this would run os.system: the kind of file a weights-only load refuses."""
    def __reduce__(self):
        return os.system, ('echo never',)


def test_a_peer_checkpoint_that_would_run_code_is_refused_before_any_work(tmp_path, two_models, call):
    torch.save({'params': _Payload()}, tmp_path / 'RCAN.pth')
    peer = model_options(tmp_path, 'peer', RCAN_TINY, 'SRModel', scale=4,
                         path={'pretrain_network_g': str(tmp_path / 'RCAN.pth')})
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
    assert (f'{bad}: expected the benchmark layout <Name>/HR and <Name>/LR_bicubic/X4, but {bad}/LR_bicubic/X4 '
            'is not a folder.') in proc.stderr
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


@pytest.mark.parametrize('args, message', [
    (['--profile-only', '--benchmark', SET5],
     '--benchmark scores checkpoints and --profile-only ignores them: drop one of the two.'),
    (['--profile-only', '--weights', 'igan.yml=w.pth'],
     '--weights scores checkpoints and --profile-only ignores them: drop one of the two.'),
    (['--runs', '0'], '--runs must be at least 1'),
], ids=['benchmark', 'weights', 'runs'])
def test_options_that_would_be_ignored_are_refused(tmp_path, two_models, call, args, message):
    proc = call(compare, two_models[0], *args, '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2 and proc.stderr.strip().endswith(f'compare_models.py: error: {message}')
    assert not (tmp_path / 'out').exists()


def test_weights_for_a_file_not_compared_or_not_found_are_refused(tmp_path, plugins, call):
    opt = plugin_options(tmp_path, ANNOUNCED[1], weights=False)
    proc = call(compare, opt, '--weights', f'other.yml={opt}', '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2 and proc.stderr.strip().endswith(
        'error: --weights other.yml=' + opt + ': other.yml is not one of the option files compared; name it as on '
        'the command line.')
    proc = call(compare, opt, '--weights', f'{opt}=nowhere.pth', '--benchmark', SET5, '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2
    assert proc.stderr == f'compare_models.py: error: --weights {opt}=nowhere.pth: not found.\n'
    assert not (tmp_path / 'out').exists()


def test_a_plugin_that_announces_nothing_needs_import(tmp_path, plugins, call):
    opt = plugin_options(tmp_path, 'EcoNeverImported', weights=False)
    proc = call(compare, opt, '--profile-only', '--import', 'no_such_eco_plugin')
    assert proc.returncode == 2 and proc.stderr == f'compare_models.py: {IMPORT_REFUSED}'
    proc = call(compare, opt, '--profile-only')
    assert proc.returncode == 2 and ("network_g type 'EcoNeverImported' is not in basicsr's ARCH_REGISTRY (a "
                                     "plugin's network: install the plugin, or name the module that registers it "
                                     'with --import MODULE).') in proc.stderr


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
