"""scripts/benchmarks/training.py on CPU at tiny sizes: `speed` gives a row per CPU variant with speed-ups over the
defaults, its fastest combination and profiles; `switches` times each switch against the defaults for any option
file's network; `arch` prints time per FLOP and the verdict on the 1.10 bar; what cannot run is refused on one
line."""
import csv
import json
import os
import re

import pytest
import torch
from basicsr.archs import build_network
from conftest import REPO, plugins_on_path, ratio_tolerance, run_main, write_plugin_packages, write_yaml

from igan_basicsr.models.switches import REGIONAL_MIN_SHARE, repeated_blocks
from scripts.benchmarks import common, converge, data, inference, training

# Every variant of the default list that runs on CPU (fp32, fp16 and compile-ro need CUDA).
CPU_VARIANTS = ['defaults', 'bf16', 'channels_last', 'fused', 'compile', 'bf16+channels_last',
                'bf16+channels_last+fused', 'bf16+channels_last+fused+compile',
                'bf16+channels_last+fused+compile+regional']
TINY = ['speed', '--tiny', '--device', 'cpu', '--compile-backend', 'eager', '--steps', '1', '--warmup', '1']
# The RCAN rows: its defaults and the IGAN's fastest combination (the default list adds fp32 on CUDA and one more).
RCAN = ['--rcan-variants', 'best']
NET = {'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 2, 'num_block': 1}
SILENT = ('timing_silent', 'TimingSilentNet')  # a plugin package reached only by --import


def make_tiny_run(folder):
    # One thread: tiny steps on a busy machine otherwise wait on each other's threads (seconds a step).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        done = run_main(training, TINY + RCAN + ['--profile', '--out', str(folder)])
    finally:
        torch.set_num_threads(threads)
    (folder / 'printed.txt').write_text(done.stdout)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope='module')
def tiny_run(made_once):
    """(output folder, what it printed, train_speed.json) of one tiny speed run, shared by every worker."""
    out = made_once('training_speed_tiny', make_tiny_run)
    with open(out / 'train_speed.json') as f:
        return out, (out / 'printed.txt').read_text(), json.load(f)


def rows_of(result, model):
    return {r['variant']: r for r in result['rows'] if r['model'] == model and not r['note'].startswith('again')}


# ------------------------------------------------------------------------------------------------------ speed
def test_every_cpu_variant_has_a_timed_row(tiny_run):
    _, _, result = tiny_run
    igan = rows_of(result, 'IGAN')
    assert set(CPU_VARIANTS) <= set(igan)
    for row in result['rows']:
        assert 'failed' not in row['note'] and 'skipped' not in row['note'], row
        assert row['ms'] > 0 and row['patches_s'] == pytest.approx(row['batch'] / row['ms'] * 1000)
        assert row['gflop'] > 0 and row['tflops_s'] == pytest.approx(row['gflop'] / row['ms'])
        assert row['precision'] == ('bf16' if 'bf16' in row['switches'] else 'fp32')
    # The compile variants compiled something (backend 'eager' here: dynamo's capture, no code generation).
    compiled = {v: re.search(r'(\d+) graph\(s\) compiled', igan[v]['note']) for v in CPU_VARIANTS if 'compile' in v}
    assert all(m and int(m.group(1)) >= 1 for m in compiled.values()), compiled
    assert 'fp32' not in igan and not any('compile-ro' in v for v in igan)


def test_speedups_are_over_the_defaults_row(tiny_run):
    _, _, result = tiny_run
    for model in ('IGAN', 'RCAN'):
        rows = rows_of(result, model)
        assert rows['defaults']['speedup'] == 1.0
        for row in rows.values():
            assert row['speedup'] == pytest.approx(row['patches_s'] / rows['defaults']['patches_s'])
            assert row['paper_hours'] == (pytest.approx(row['ms'] * 800_000 / 3.6e6) if row['batch'] == 2 else None)
    again = [r for r in result['rows'] if r['note'].startswith('again')]
    assert [r['variant'] for r in again] == ['defaults', 'defaults']
    assert 'after the eager variants' in again[0]['note'] and again[1] == result['rows'][-1]


def test_the_best_combination_is_timed_at_the_larger_batch_and_for_rcan(tiny_run):
    out, _, result = tiny_run
    best = result['best']
    igan = rows_of(result, 'IGAN')
    assert best['ms'] == min(r['ms'] for r in igan.values() if r['batch'] == 2)
    combo = best['variant']
    assert best['yaml'] == common.yaml_lines(best['switches'], 'eager')
    assert igan[f'{combo}@4']['batch'] == 4
    # FLOPs count what a step does: twice the batch, twice the FLOPs.
    assert igan[f'{combo}@4']['gflop'] == pytest.approx(2 * igan['defaults']['gflop'], rel=1e-6)
    rcan = rows_of(result, 'RCAN')
    assert set(rcan) == {'defaults', combo}
    assert rcan['defaults']['gflop'] != igan['defaults']['gflop']
    # What `data loader --consume-json` reads of it: the fastest step and the row of most patches/s.
    most = max((r for r in igan.values()), key=lambda r: r['patches_s'])
    assert data.consumption(out / 'train_speed.json') == data.Need(best['patches_s'], combo, most['patches_s'],
                                                                    most['variant'])


def test_tables_are_written_and_printed(tiny_run):
    out, printed, result = tiny_run
    markdown = (out / 'train_speed.md').read_text()
    with open(out / 'train_speed.csv') as f:
        table = list(csv.DictReader(f))
    assert '| model | variant | batch | ms/step | patches/s | speed-up |' in markdown
    assert [(r['model'], r['variant']) for r in table] == [(r['model'], r['variant']) for r in result['rows']]
    assert '| IGAN | defaults | 2 |' in markdown and '| IGAN | defaults | 2 |' in printed
    assert f"fastest IGAN at batch 2: {result['best']['variant']}, {result['best']['ms']:.2f} ms/step" in printed
    assert 'option-file lines: ' + ' | '.join(result['best']['yaml']) in printed


def test_the_defaults_and_the_fastest_step_are_profiled(tiny_run):
    out, printed, result = tiny_run
    profiles = result['profile']
    assert sorted(profiles) == ['defaults', 'fastest']  # on CPU the fastest has no CUDA graphs: profiled once
    assert profiles['defaults']['variant'] == 'defaults' and profiles['fastest']['variant'] == result['best']['variant']
    for profile in profiles.values():
        assert profile['unit'] == 'CPU operators (self time)' and len(profile['top']) == 15
        assert profile['top'][0]['ms_per_step'] >= profile['top'][-1]['ms_per_step'] > 0
        assert sum(profile['kinds'].values()) == pytest.approx(profile['busy_ms_per_step'])
    text = (out / 'profile.txt').read_text()
    assert 'Profile of one step of IGAN defaults (defaults)' in text
    assert f"Profile of one step of IGAN {result['best']['variant']} (fastest)" in text
    assert all(section in printed for section in text.strip().split('\n\n'))


@pytest.mark.parametrize('key, path', [('IGAN', common.IGAN_OPT), ('RCAN', common.RCAN_OPT)])
def test_the_tiny_networks_compile_per_block(key, path, monkeypatch):
    # Whichever variant is the fastest is timed for RCAN too, regional included.
    monkeypatch.chdir(REPO)
    entry = training.load_entry(key, path, [], tiny=True)
    blocks = repeated_blocks(build_network(dict(entry.network_g)))
    assert (blocks.name, len(blocks.modules)) == ('body', 4) and blocks.share >= REGIONAL_MIN_SHARE


def test_a_compiled_variant_compiles_into_an_empty_cache_that_goes_with_it():
    before = os.environ.get('TORCHINDUCTOR_CACHE_DIR')
    with training.cold_compile_cache() as directory:
        assert os.environ['TORCHINDUCTOR_CACHE_DIR'] == directory and not os.listdir(directory)
        from torch._inductor.runtime.cache_dir_utils import cache_dir
        assert cache_dir() == directory  # where inductor writes and looks up compiled code
    assert not os.path.exists(directory) and os.environ.get('TORCHINDUCTOR_CACHE_DIR') == before


def test_the_options_and_option_file_lines_of_a_combination():
    assert common.yaml_lines({'bf16', 'channels_last', 'fused', 'compile-ro'}) == [
        'channels_last: true', 'compile: {mode: reduce-overhead}', 'train:', '  amp: bf16', '  optim_g:',
        '    fused: true']
    assert common.yaml_lines({'compile'}) == ['compile: true']
    assert common.yaml_lines({'compile', 'regional'}) == ['compile: {regional: true}']
    assert common.yaml_lines({'compile-ro', 'regional'}) == ['compile: {mode: reduce-overhead, regional: true}']
    assert common.yaml_lines({'fp16'}) == ['train:', '  amp: fp16'] and common.yaml_lines(set()) == []
    # Mixed precision covers inference too, where it is timed; the optimizer is copied, not changed.
    adam = dict(common.ADAM)
    assert common.switch_options({'fp16', 'fused'}, adam, 'eager') == (
        {}, {'optim_g': dict(adam, fused=True), 'amp': 'fp16'}, {'amp': 'fp16'})
    assert common.switch_options({'compile'}, adam, 'eager').top == {'compile': {'backend': 'eager'}}
    assert adam == common.ADAM
    assert common.parse_variant('channels_last+bf16@8', 'cpu').name(16) == 'bf16+channels_last@8'


@pytest.mark.parametrize('argv, says', [
    (['--variants', 'bf16+turbo'], "unknown switch 'turbo'"),
    (['--variants', 'compile-ro'], 'compile-ro needs CUDA'),
    (['--variants', 'fp32'], 'fp32 needs CUDA'),
    (['--variants', 'fp16'], 'fp16 needs CUDA'),
    (['--variants', 'compile+compile-ro'], 'compile and compile-ro exclude each other'),
    (['--variants', 'bf16+regional'], 'regional says how to compile; add compile or compile-ro'),
    (['--variants', 'bf16@0'], 'positive integer'),
    (['--variants', 'best'], "'best'"),
    (['--batch', '0'], '--batch must be at least 1, got 0.'),
    (['--peak-tflops', '-1'], '--peak-tflops must be positive'),
    (['--models', 'igan', 'igan'], '--models names igan twice'),
    (['--igan-opt', 'no/such.yml'], 'option file not found: no/such.yml'),
    (['--steps', 'many'], 'invalid int value'),
])
def test_speed_refuses_on_one_line(argv, says, call, tmp_path):
    proc = call(training, 'speed', *argv, '--device', 'cpu', '--tiny', '--out', str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.startswith('training speed: error: ') and says in proc.stderr
    assert proc.stderr.count('\n') == 1 and not os.listdir(tmp_path)


@pytest.mark.parametrize('module, argv, says', [
    (training, [], 'the following arguments are required: command'),
    (training, ['train'], "invalid choice: 'train' (choose from 'speed', 'switches', 'arch')"),
    (data, ['load'], "invalid choice: 'load' (choose from 'prepare', 'loader')"),
    (inference, ['tile'], "invalid choice: 'tile' (choose from 'engines', 'tiling')"),
])
def test_a_missing_or_unknown_command_is_refused_with_the_commands(module, argv, says, call):
    proc = call(module, *argv)
    assert proc.returncode == 2 and says in proc.stderr and proc.stderr.count('\n') == 1


# --------------------------------------------------------------------------------------------------- switches
SWITCH_ROW = re.compile(r'^\| (\w+) \| ([\w+]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$', re.M)


def check_speedups(rows):
    """Each speed-up is the model's defaults time over the variant's (times printed in ms to 1 decimal)."""
    base = {model: (float(train), float(test)) for model, variant, train, _, test, _ in rows if variant == 'defaults'}
    for model, variant, *cells in rows:
        for (ms, speedup), reference in zip((cells[:2], cells[2:]), base[model]):
            if variant == 'defaults':
                assert speedup == '1.00'
            elif float(ms) >= 0.1:  # 0.0 says too little
                assert float(speedup) == pytest.approx(reference / float(ms), abs=ratio_tolerance(reference, float(ms)))


@pytest.mark.slow
def test_switches_times_every_cpu_switch_against_the_defaults(tmp_path, call):
    proc = call(training, 'switches', '--num-feat', '16', '--groups', '1', '--blocks', '1', '--batch', '2',
                '--patch', '12', '--test-size', '24x20', '--rounds', '2', '--out', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = SWITCH_ROW.findall(proc.stdout)
    assert [(r[0], r[1]) for r in rows] == [('IGAN', v) for v in ('defaults', 'channels_last', 'bf16', 'compile',
                                                                  'channels_last+compile')]
    check_speedups(rows)
    assert 'IGAN 16 features, 1 groups x 1 blocks, x4' in proc.stdout
    assert (tmp_path / 'speed_options.csv').read_text().startswith('model,variant,train_ms,train_speedup')


@pytest.mark.slow
def test_switches_times_option_files_peers_included(tmp_path, call):
    edsr = os.path.join(REPO, 'options', 'compare', 'tiny', 'EDSR_x4.yml')
    x2 = write_yaml(tmp_path / 'igan_x2.yml', {'name': 'IGAN_x2', 'scale': 2, 'network_g': dict(NET, upscale=2)})
    # Option files on both sides of other arguments; a switch's _ written as - too.
    proc = call(training, 'switches', x2, '--batch', '2', edsr, '--patch', '12', '--test-size', '24x20',
                '--rounds', '2', '--variants', 'channels-last', 'bf16', '--out', str(tmp_path / 'out'))
    assert proc.returncode == 0, proc.stderr
    rows = SWITCH_ROW.findall(proc.stdout)
    assert [(r[0], r[1]) for r in rows] == [(model, variant) for model in ('IGAN_x2', 'EDSR_tiny')
                                            for variant in ('defaults', 'channels_last', 'bf16')]
    check_speedups(rows)
    assert f'IGAN_x2 ({x2}), x2; EDSR_tiny ({edsr}), x4' in proc.stdout


TINY_FILES = os.path.join('options', 'compare', 'tiny')


@pytest.mark.parametrize('args, message', [
    ([f'{TINY_FILES}/EDSR_x4.yml', '--num-feat', '8'], '--num-feat: these shape the default IGAN only'),
    (['--variants', 'fp8'], "variant 'fp8': unknown switch 'fp8'; switches are fp32, bf16, fp16, channels_last"),
    (['--variants', 'fp16'], "variant 'fp16': fp16 needs CUDA"),
    (['--variants', 'channels_last', f'{TINY_FILES}/EDSR_x4.yml'],
     f"'{TINY_FILES}/EDSR_x4.yml' is an option file, not a variant: put the option files before --variants"),
    (['--variants', 'defaults'], 'the defaults are always timed'),
    (['--variants', 'bf16@8'], '--batch sets the batch of every variant here'),
    (['README.md'], 'README.md (line'),
    ([f'{TINY_FILES}/EDSR_x4.yml', f'{TINY_FILES}/EDSR_x4.yml'],
     f"{TINY_FILES}/EDSR_x4.yml and {TINY_FILES}/EDSR_x4.yml are both named 'EDSR_tiny'"),
])
def test_switches_refuses_bad_arguments(tmp_path, call, monkeypatch, args, message):
    monkeypatch.chdir(REPO)  # the option files are named relative to the repository
    proc = call(training, 'switches', *args, '--device', 'cpu', '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2 and proc.stderr.startswith('training switches: error: ') and message in proc.stderr
    assert not (tmp_path / 'out').exists()


# ------------------------------------------------------------------------------------------------------- arch
ARCH_ROW = re.compile(r'^(IGAN|RCAN)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$', re.M)
ARCH_RATIO = re.compile(r'^IGAN time per FLOP / RCAN time per FLOP = ([\d.]+) \((within|OUTSIDE) the 1\.10 bar\)$',
                        re.M)
ARCH_ARGS = ['arch', '--num-feat', '16', '--igan', '2', '2', '--rcan', '1', '4', '--batch', '1', '--patch', '12']


def test_arch_prints_each_model_and_the_ratio_of_their_times_per_flop(call):
    proc = call(training, *ARCH_ARGS, '--rounds', '2')
    assert proc.returncode == 0, proc.stderr
    rows = {name: [float(v) for v in values] for name, *values in ARCH_ROW.findall(proc.stdout)}
    assert list(rows) == ['IGAN', 'RCAN']
    nets = {'IGAN': dict(NET, num_group=2, num_block=2), 'RCAN': {
        'type': 'RCAN', 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 16, 'num_group': 1, 'num_block': 4, 'upscale': 4}}
    for name, (params_m, _, _, ns_per_kflop) in rows.items():
        assert params_m == pytest.approx(sum(p.numel() for p in build_network(nets[name]).parameters()) / 1e6,
                                         abs=0.005)
        assert ns_per_kflop > 0
    # The ratio (3 decimals) of the unrounded times per FLOP, each printed to 3 decimals.
    a, b = rows['IGAN'][3], rows['RCAN'][3]
    ratio = float(ARCH_RATIO.search(proc.stdout).group(1))
    assert ratio == pytest.approx(a / b, abs=5e-4 + 5e-4 / b + 5e-4 * a / b ** 2)


@pytest.mark.parametrize('igan_s, rcan_s, ratio, verdict', [
    (1.0, 1.25, '0.800', 'within'), (1.05, 1.0, '1.050', 'within'), (1.2, 1.0, '1.200', 'OUTSIDE')])
def test_arch_judges_the_bar_on_the_time_per_flop(igan_s, rcan_s, ratio, verdict, call, monkeypatch):
    """Steps of known length over the same FLOPs: which side of the bar is known, and each row's time per FLOP is
    its step time over its FLOPs."""
    monkeypatch.setattr(training, 'train_step_flops', lambda model, data: 2e9)
    monkeypatch.setattr(training, 'interleaved_medians', lambda calls, rounds, device: {'IGAN': igan_s,
                                                                                       'RCAN': rcan_s})
    proc = call(training, *ARCH_ARGS)
    rows = {name: values for name, *values in ARCH_ROW.findall(proc.stdout)}
    assert [rows[n][1:] for n in ('IGAN', 'RCAN')] == [['2.0', f'{s:.2f}', f'{s / 2e9 * 1e12:.3f}']
                                                        for s in (igan_s, rcan_s)]
    assert ARCH_RATIO.search(proc.stdout).groups() == (ratio, verdict)


# ------------------------------------------------------------------------------------------- --import MODULE
@pytest.fixture
def silent_plugin(tmp_path_factory, monkeypatch):
    """An option file of a plugin network whose package announces no entry point (reached by --import only)."""
    root = tmp_path_factory.mktemp('timing_plugins')
    plugins_on_path(write_plugin_packages(root, [], [SILENT]), monkeypatch)
    return write_yaml(root / 'silent.yml', {'name': SILENT[1], 'model_type': 'SwitchSRModel', 'scale': 4,
                                            'network_g': {'type': SILENT[1], 'upscale': 4, 'num_feat': 8},
                                            'path': {'pretrain_network_g': None}})


IMPORT_REFUSED = ("error: --import no_such_timing_plugin: cannot import it (No module named "
                  "'no_such_timing_plugin'); install the package that provides it, or put its folder on "
                  'PYTHONPATH.\n')


@pytest.mark.parametrize('module, args', [
    (training, ['switches', 'OPT', '--device', 'cpu']),
    (training, ['speed', '--device', 'cpu', '--tiny']),
    (inference, ['tiling', 'OPT', '--tile', '8', '--no-weights']),
    (converge, ['--data', 'x']),
], ids=['training switches', 'training speed', 'inference tiling', 'converge'])
def test_every_benchmark_names_a_module_that_does_not_import(tmp_path, silent_plugin, call, module, args):
    out = tmp_path / 'out'
    proc = call(module, *[silent_plugin if a == 'OPT' else a for a in args], '--import', 'no_such_timing_plugin',
                '--out', str(out))
    assert proc.returncode == 2 and proc.stderr.endswith(IMPORT_REFUSED) and proc.stderr.count('\n') == 1
    assert not out.exists()


def test_switches_times_an_import_only_plugin(tmp_path, silent_plugin, call):
    proc = call(training, 'switches', silent_plugin, '--import', SILENT[0], '--variants', 'channels_last',
                '--rounds', '1', '--batch', '1', '--patch', '8', '--test-size', '16x16', '--device', 'cpu',
                '--out', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / 'speed_options.csv') as f:
        assert [(r['model'], r['variant']) for r in csv.DictReader(f)] == [(SILENT[1], 'defaults'),
                                                                          (SILENT[1], 'channels_last')]
