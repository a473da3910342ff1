"""scripts/benchmarks/training.py on CPU at tiny sizes: `speed` gives a row per CPU variant with speed-ups over the
defaults, the drift checks, its fastest combination and profiles; `switches` times each switch against the
defaults for any option file's network, and each model's time per FLOP against the first's; what cannot run is
refused on one line."""
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

# Every variant of the default list that runs on CPU (fp32, fp16 and compile-ro need CUDA), eager ones first.
CPU_VARIANTS = ['defaults', 'bf16', 'channels_last', 'fused', 'bf16+channels_last', 'bf16+channels_last+fused',
                'bf16+channels_last+fused+compile+regional', 'bf16+channels_last+fused+compile', 'compile']
TINY = ['speed', '--tiny', '--device', 'cpu', '--compile-backend', 'eager', '--steps', '1', '--warmup', '1']
IGAN, RCAN = 'train_IGAN_x4', 'RCAN_x4'  # the option files' names label the rows
NET = {'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 2, 'num_block': 1}
SILENT = ('timing_silent', 'TimingSilentNet')  # a plugin package reached only by --import
TINY_FILES = os.path.join('options', 'compare', 'tiny')


def make_tiny_run(folder):
    # One thread: tiny steps on a busy machine otherwise wait on each other's threads (seconds a step).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        done = run_main(training, TINY + ['--out', str(folder)])
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
    return {r['variant']: r for r in result['rows'] if r['model'] == model and r['note'] != training.AGAIN}


# ------------------------------------------------------------------------------------------------------ speed
def test_every_cpu_variant_has_a_timed_row_eager_ones_first(tiny_run):
    _, _, result = tiny_run
    igan = rows_of(result, IGAN)
    assert list(igan) == CPU_VARIANTS
    for row in result['rows']:
        assert 'failed' not in row['note'] and 'skipped' not in row['note'], row
        assert row['ms'] > 0 and row['patches_s'] == pytest.approx(2 / row['ms'] * 1000)
        assert row['gflop'] > 0 and row['tflops_s'] == pytest.approx(row['gflop'] / row['ms'])
        assert row['precision'] == ('bf16' if 'bf16' in row['switches'] else 'fp32')
        assert row['first_step_s'] > 0 and row['peak_fraction'] is None  # no peak on CPU
    order = [(r['model'], r['variant'], r['note']) for r in result['rows']]
    compiled = order.index((IGAN, CPU_VARIANTS[6], ''))
    assert all('compile' not in variant for _, variant, _ in order[:compiled])
    # The drift checks: the first model's defaults again after the eager variants and at the end.
    assert [i for i, row in enumerate(order) if row[2] == training.AGAIN] == [compiled - 1, len(order) - 1]


def test_speedups_are_over_the_first_defaults_row(tiny_run):
    _, _, result = tiny_run
    for model in (IGAN, RCAN):
        rows = rows_of(result, model)
        assert rows['defaults']['speedup'] == 1.0
        for row in [r for r in result['rows'] if r['model'] == model]:
            assert row['speedup'] == pytest.approx(rows['defaults']['ms'] / row['ms'])
            assert row['paper_hours'] == pytest.approx(row['ms'] * 800_000 / 3.6e6)
    rcan = rows_of(result, RCAN)
    assert list(rcan) == ['defaults', 'bf16+channels_last+fused']  # the later models' list, on CPU
    assert rcan['defaults']['gflop'] != rows_of(result, IGAN)['defaults']['gflop']


def test_the_fastest_combination_is_named_with_its_option_file_lines(tiny_run):
    out, printed, result = tiny_run
    best = result['best']
    igan = rows_of(result, IGAN)
    assert best['ms'] == min(r['ms'] for r in igan.values()) and best == dict(
        {k: igan[best['variant']][k] for k in ('model', 'variant', 'switches', 'ms', 'patches_s', 'speedup')},
        yaml=common.yaml_lines(best['switches'], 'eager'))
    # What converge --fast-from and data loader --consume-json read of it.
    assert converge.Variant(best['switches']).combo() == best['variant']
    assert data.consumption(out / 'train_speed.json') == data.Need(best['patches_s'], best['variant'])
    assert f"fastest {IGAN}: {best['variant']}, {best['ms']:.2f} ms/step; option-file lines:\n" + '\n'.join(
        best['yaml']) + '\n' in printed


def test_tables_are_written_and_printed(tiny_run):
    out, printed, result = tiny_run
    markdown = (out / 'train_speed.md').read_text()
    with open(out / 'train_speed.csv') as f:
        table = list(csv.DictReader(f))
    assert '| model | variant | ms/step | patches/s | speed-up | GFLOP/step | TFLOP/s | precision | of peak | 800k' \
        in markdown
    assert [(r['model'], r['variant']) for r in table] == [(r['model'], r['variant']) for r in result['rows']]
    assert f'| {IGAN} | defaults | ' in markdown and markdown.strip() in printed


@pytest.mark.parametrize('path', [common.IGAN_OPT, common.RCAN_OPT])
def test_the_tiny_networks_compile_per_block(path, monkeypatch):
    # Whichever variant is the fastest, regional included, is what converge trains.
    monkeypatch.chdir(REPO)
    model, = training.load_models([path], common.TINY_NET)
    blocks = repeated_blocks(build_network(dict(model.network_g)))
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
    assert common.parse_variant('channels-last+bf16', 'cpu').combo() == 'bf16+channels_last'


@pytest.mark.parametrize('argv, says', [
    (['--variants', 'bf16+turbo'], "variant 'bf16+turbo': unknown switch 'turbo'; switches are fp32, bf16"),
    (['--variants', 'compile-ro'], "variant 'compile-ro': compile-ro needs CUDA; this run is on cpu."),
    (['--variants', 'fp32'], 'fp32 needs CUDA'),
    (['--variants', 'fp16'], 'fp16 needs CUDA'),
    (['--variants', 'compile+compile-ro'], 'compile and compile-ro exclude each other'),
    (['--variants', 'bf16+regional'], 'regional says how to compile; add compile or compile-ro'),
    (['--variants', 'defaults'], "'defaults': the defaults are always timed"),
    (['--batch', '0'], '--batch must be at least 1, got 0.'),
    (['--budget', '-1'], '--budget must not be negative, got -1.0.'),
    ([common.IGAN_OPT, common.IGAN_OPT], f"{common.IGAN_OPT} and {common.IGAN_OPT} are both named 'train_IGAN_x4'"),
    (['no/such.yml'], 'option file not found: no/such.yml'),
    (['--steps', 'many'], 'invalid int value'),
])
def test_speed_refuses_on_one_line(argv, says, call, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    proc = call(training, 'speed', *argv, '--device', 'cpu', '--tiny', '--out', str(tmp_path))
    assert proc.returncode == 2 and proc.stderr.startswith('training speed: error: ') and says in proc.stderr
    assert proc.stderr.count('\n') == 1 and not os.listdir(tmp_path)


@pytest.mark.parametrize('command', ['speed', 'switches'])
def test_what_could_only_fail_once_started_is_refused_before_it(command, call, tmp_path, monkeypatch):
    """No CUDA, an unknown compile backend, a network basicsr cannot build: one line naming it, nothing timed."""
    monkeypatch.chdir(REPO)
    unbuildable = tmp_path / 'unbuildable.yml'
    unbuildable.write_text('name: odd\nscale: 4\nnetwork_g: {type: RCAN, num_in_ch: 3, num_out_ch: 3, bogus_arg: 3}\n')
    out = tmp_path / 'out'
    for argv, says in ((['--device', 'cuda'], '--device cuda: no CUDA device here.'),
                       (['--compile-backend', 'nosuch'], '--compile-backend nosuch: not a torch.compile backend'),
                       ([str(unbuildable)], f"{unbuildable}: network_g cannot be built: TypeError: RCAN.__init__() "
                                            "got an unexpected keyword argument 'bogus_arg'")):
        if torch.cuda.is_available() and argv[0] == '--device':
            continue
        proc = call(training, command, *argv, '--out', str(out))
        assert proc.returncode == 2 and proc.stderr.startswith(f'training {command}: error: {says}')
        assert proc.stderr.count('\n') == 1 and not out.exists()


def test_speed_starts_no_variant_once_the_budget_is_spent(tmp_path, call, monkeypatch):
    monkeypatch.chdir(REPO)
    proc = call(training, *TINY, '--budget', '0', '--out', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / 'train_speed.json') as f:
        result = json.load(f)
    assert result['best'] is None and len(result['rows']) == len(CPU_VARIANTS) + 2 + 2  # RCAN's two, two repeats
    assert {r['note'] for r in result['rows']} == {'skipped: the --budget of 0 s was spent'}


@pytest.mark.parametrize('module, argv, says', [
    (training, [], 'the following arguments are required: command'),
    (training, ['arch'], "invalid choice: 'arch' (choose from 'speed', 'switches')"),
    (data, ['load'], "invalid choice: 'load' (choose from 'prepare', 'loader')"),
    (inference, ['tile'], "invalid choice: 'tile' (choose from 'engines', 'tiling')"),
])
def test_a_missing_or_unknown_command_is_refused_with_the_commands(module, argv, says, call):
    proc = call(module, *argv)
    assert proc.returncode == 2 and says in proc.stderr and proc.stderr.count('\n') == 1


# --------------------------------------------------------------------------------------------------- switches
# model, variant, train ms and speed-up, inference ms and speed-up (then GFLOP/step and time per FLOP / first).
CELL = r' \| ([\d.]+)'
SWITCH_ROW = re.compile(r'^\| (\w+) \| ([\w+]+)' + CELL * 4 + r' \| [\d.]+ \| [\d.]+ \|$', re.M)


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
    igan = write_yaml(tmp_path / 'igan.yml', {'name': 'IGAN', 'scale': 4, 'network_g': dict(NET, num_group=1)})
    proc = call(training, 'switches', igan, '--batch', '2', '--patch', '12', '--test-size', '24x20', '--rounds', '2',
                '--device', 'cpu', '--out', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = SWITCH_ROW.findall(proc.stdout)
    assert [(r[0], r[1]) for r in rows] == [('IGAN', v) for v in ('defaults', 'channels_last', 'bf16', 'compile',
                                                                  'channels_last+compile')]
    check_speedups(rows)
    assert f'IGAN x4 ({igan}: num_feat 16, num_group 1, num_block 1)' in proc.stdout
    assert (tmp_path / 'speed_options.csv').read_text().startswith('model,variant,train_ms,train_speedup')


@pytest.mark.slow
def test_switches_times_option_files_peers_included(tmp_path, call):
    edsr = os.path.join(REPO, TINY_FILES, 'EDSR_x4.yml')
    x2 = write_yaml(tmp_path / 'igan_x2.yml', {'name': 'IGAN_x2', 'scale': 2, 'network_g': dict(NET, upscale=2)})
    # Option files on both sides of other arguments; a switch's _ written as - too.
    proc = call(training, 'switches', x2, '--batch', '2', edsr, '--patch', '12', '--test-size', '24x20',
                '--rounds', '2', '--variants', 'channels-last', 'bf16', '--out', str(tmp_path / 'out'))
    assert proc.returncode == 0, proc.stderr
    rows = SWITCH_ROW.findall(proc.stdout)
    assert [(r[0], r[1]) for r in rows] == [(model, variant) for model in ('IGAN_x2', 'EDSR_tiny')
                                            for variant in ('defaults', 'channels_last', 'bf16')]
    check_speedups(rows)
    assert f'IGAN_x2 x2 ({x2}: num_feat 16, num_group 2, num_block 1); EDSR_tiny x4 ({edsr}: num_feat 16, ' \
        'num_block 19)' in proc.stdout


def test_switches_gives_each_models_time_per_flop_against_the_first(tmp_path, call, monkeypatch):
    # IGAN against RCAN, as docs/comparisons.md times them (there at paper size).
    monkeypatch.chdir(REPO)
    proc = call(training, 'switches', f'{TINY_FILES}/RCAN_x4.yml', f'{TINY_FILES}/IGAN_growth_x4.yml', '--variants',
                '--batch', '1', '--patch', '8', '--test-size', '8x8', '--rounds', '1', '--device', 'cpu',
                '--out', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / 'speed_options.csv') as f:
        rows = {r['model']: {k: float(v) for k, v in r.items() if k not in ('model', 'variant')}
                for r in csv.DictReader(f)}
    assert list(rows) == ['RCAN_tiny', 'IGAN_growth_tiny'] and rows['RCAN_tiny']['per_flop'] == 1.0
    igan, rcan = rows['IGAN_growth_tiny'], rows['RCAN_tiny']
    assert igan['per_flop'] == pytest.approx(igan['train_ms'] / igan['gflop'] / (rcan['train_ms'] / rcan['gflop']))
    assert igan['gflop'] > 0 and rcan['gflop'] > 0 and igan['gflop'] != rcan['gflop']


def test_time_per_flop_is_the_step_time_over_the_flops_of_the_step(tmp_path, call, monkeypatch):
    """Steps of known length and FLOPs: RCAN 1 s for 2 GFLOP, IGAN 1.05 s for 3 GFLOP, 0.70 of RCAN's per FLOP."""
    monkeypatch.chdir(REPO)
    flops = iter([2e9, 3e9])  # one count per model, on its defaults
    monkeypatch.setattr(common, 'flops_of', lambda call: next(flops))
    monkeypatch.setattr(common, 'interleaved_medians', lambda calls, rounds, device: {
        key: 1.05 if key[0].startswith('IGAN') else 1.0 for key in calls})
    proc = call(training, 'switches', f'{TINY_FILES}/RCAN_x4.yml', f'{TINY_FILES}/IGAN_none_x4.yml', '--variants',
                '--batch', '1', '--patch', '8', '--test-size', '8x8', '--device', 'cpu', '--out', str(tmp_path))
    assert '| IGAN_none_tiny | defaults | 1050.0 | 1.00 | 1050.0 | 1.00 | 3.0 | 0.70 |' in proc.stdout
    assert '| RCAN_tiny | defaults | 1000.0 | 1.00 | 1000.0 | 1.00 | 2.0 | 1.00 |' in proc.stdout


@pytest.mark.parametrize('args, message', [
    (['--variants', 'fp8'], "variant 'fp8': unknown switch 'fp8'; switches are fp32, bf16, fp16, channels_last"),
    (['--variants', 'fp16'], "variant 'fp16': fp16 needs CUDA"),
    (['--variants', 'channels_last', f'{TINY_FILES}/EDSR_x4.yml'],
     f"'{TINY_FILES}/EDSR_x4.yml' is an option file, not a variant: put the option files before --variants"),
    (['--variants', 'defaults'], 'the defaults are always timed'),
    (['--rounds', '0'], '--rounds must be at least 1, got 0.'),
    (['README.md'], 'README.md (line'),
    ([f'{TINY_FILES}/EDSR_x4.yml', f'{TINY_FILES}/EDSR_x4.yml'],
     f"{TINY_FILES}/EDSR_x4.yml and {TINY_FILES}/EDSR_x4.yml are both named 'EDSR_tiny'"),
])
def test_switches_refuses_bad_arguments(tmp_path, call, monkeypatch, args, message):
    monkeypatch.chdir(REPO)  # the option files are named relative to the repository
    proc = call(training, 'switches', *args, '--device', 'cpu', '--out', str(tmp_path / 'out'))
    assert proc.returncode == 2 and proc.stderr.startswith('training switches: error: ') and message in proc.stderr
    assert proc.stderr.count('\n') == 1 and not (tmp_path / 'out').exists()


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


def test_speed_and_switches_time_an_import_only_plugin_and_speed_profiles_each_variant(tmp_path, silent_plugin,
                                                                                       call):
    proc = call(training, 'switches', silent_plugin, '--import', SILENT[0], '--variants', 'channels_last',
                '--rounds', '1', '--batch', '1', '--patch', '8', '--test-size', '16x16', '--device', 'cpu',
                '--out', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / 'speed_options.csv') as f:
        assert [(r['model'], r['variant']) for r in csv.DictReader(f)] == [(SILENT[1], 'defaults'),
                                                                          (SILENT[1], 'channels_last')]
    out = tmp_path / 'speed'
    proc = call(training, 'speed', silent_plugin, '--import', SILENT[0], '--variants', 'channels_last', '--steps',
                '1', '--warmup', '1', '--batch', '1', '--patch', '8', '--device', 'cpu', '--profile', '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    with open(out / 'train_speed.json') as f:
        rows = json.load(f)['rows']
    assert [(r['variant'], r['note']) for r in rows] == [('defaults', ''), ('channels_last', ''),
                                                         ('defaults', training.AGAIN), ('defaults', training.AGAIN)]
    # A profile per timed row, in the order timed, in profile.txt and printed.
    sections = (out / 'profile.txt').read_text().strip().split('\n\n')
    assert [s.split(' (')[0] for s in sections] == [f"{SILENT[1]} {r['variant']}" for r in rows]
    for section, row in zip(sections, rows):
        assert f"({row['ms']:.2f} ms a step unprofiled): 2 steps under torch.profiler" in section
        assert 'aten::convolution' in section and 'Self CPU time total' in section and section in proc.stdout
