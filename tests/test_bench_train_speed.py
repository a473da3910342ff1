"""bench_train_speed and bench_train_loader on CPU at tiny sizes: every CPU variant gives a row, the tables are
written, and arguments they cannot run are refused on one line."""
import contextlib
import csv
import io
import json
import os
import re

import pytest
import torch
from basicsr.archs import build_network

from igan_basicsr.models.switches import REGIONAL_MIN_SHARE, repeated_blocks
from scripts.benchmarks import bench_train_loader, train_switches
from scripts.benchmarks import bench_train_speed as bench

# Every variant of the default list that runs on CPU (fp32 and compile-ro need CUDA).
CPU_VARIANTS = ['defaults', 'bf16', 'channels_last', 'fused', 'compile', 'bf16+channels_last',
                'bf16+channels_last+fused', 'bf16+channels_last+fused+compile',
                'bf16+channels_last+fused+compile+regional']
TINY = ['--tiny', '--device', 'cpu', '--compile-backend', 'eager', '--steps', '1', '--warmup', '1']
# The RCAN rows: its defaults and the IGAN's fastest combination (the default list adds fp32 on CUDA and one more).
RCAN = ['--rcan-variants', 'best']


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('train_speed'))
    printed = io.StringIO()
    # One thread: tiny steps on a busy machine otherwise wait on each other's threads (seconds a step).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with contextlib.redirect_stdout(printed):
            code = bench.main(TINY + RCAN + ['--profile', '--out', out])
    finally:
        torch.set_num_threads(threads)
    with open(os.path.join(out, 'train_speed.json')) as f:
        result = json.load(f)
    return code, out, printed.getvalue(), result


def rows_of(result, model):
    return {r['variant']: r for r in result['rows'] if r['model'] == model and not r['note'].startswith('again')}


def test_every_cpu_variant_has_a_timed_row(tiny_run):
    code, _, _, result = tiny_run
    assert code == 0
    igan = rows_of(result, 'IGAN')
    assert set(CPU_VARIANTS) <= set(igan)
    for row in result['rows']:
        assert 'failed' not in row['note'] and 'skipped' not in row['note'], row
        assert row['ms'] > 0 and row['patches_s'] == pytest.approx(row['batch'] / row['ms'] * 1000)
        assert row['gflop'] > 0 and row['tflops_s'] > 0
    # The compile variants compiled something (backend 'eager' here: dynamo's capture, no code generation).
    compiled = {v: re.search(r'(\d+) graph\(s\) compiled', igan[v]['note']) for v in CPU_VARIANTS if 'compile' in v}
    assert all(m and int(m.group(1)) >= 1 for m in compiled.values()), compiled
    assert 'fp32' not in igan and not any('compile-ro' in v for v in igan)


def test_speedups_are_over_the_defaults_row(tiny_run):
    _, _, _, result = tiny_run
    for model in ('IGAN', 'RCAN'):
        rows = rows_of(result, model)
        assert rows['defaults']['speedup'] == 1.0
        for row in rows.values():
            assert row['speedup'] == pytest.approx(row['patches_s'] / rows['defaults']['patches_s'])
    again = [r for r in result['rows'] if r['note'].startswith('again')]
    assert [r['variant'] for r in again] == ['defaults', 'defaults']
    assert 'after the eager variants' in again[0]['note'] and again[1] is result['rows'][-1]


def test_the_best_combination_is_timed_at_the_larger_batch_and_for_rcan(tiny_run):
    _, _, _, result = tiny_run
    best = result['best']
    igan = rows_of(result, 'IGAN')
    assert best['ms'] == min(r['ms'] for r in igan.values() if r['batch'] == 2)
    combo = best['variant']
    assert igan[f'{combo}@4']['batch'] == 4
    # FLOPs count what a step does: twice the batch, twice the FLOPs.
    assert igan[f'{combo}@4']['gflop'] == pytest.approx(2 * igan['defaults']['gflop'], rel=1e-6)
    rcan = rows_of(result, 'RCAN')
    assert set(rcan) == {'defaults', combo}
    assert rcan['defaults']['gflop'] != igan['defaults']['gflop']


def test_tables_are_written_and_printed(tiny_run):
    _, out, printed, result = tiny_run
    with open(os.path.join(out, 'train_speed.md')) as f:
        markdown = f.read()
    with open(os.path.join(out, 'train_speed.csv')) as f:
        table = list(csv.DictReader(f))
    assert '| model | variant | batch | ms/step | patches/s | speed-up |' in markdown
    assert len(table) == len(result['rows'])
    assert [(r['model'], r['variant']) for r in table] == [(r['model'], r['variant']) for r in result['rows']]
    assert '| IGAN | defaults | 2 |' in markdown and '| IGAN | defaults | 2 |' in printed
    assert f"fastest IGAN at batch 2: {result['best']['variant']}" in printed


def test_the_defaults_and_the_fastest_step_are_profiled(tiny_run):
    _, out, printed, result = tiny_run
    profiles = result['profile']
    assert sorted(profiles) == ['defaults', 'fastest']  # on CPU the fastest has no CUDA graphs: profiled once
    assert profiles['defaults']['variant'] == 'defaults' and profiles['fastest']['variant'] == result['best']['variant']
    for profile in profiles.values():
        assert profile['unit'] == 'CPU operators (self time)' and len(profile['top']) == 15
        assert profile['top'][0]['ms_per_step'] >= profile['top'][-1]['ms_per_step'] > 0
    with open(os.path.join(out, 'profile.txt')) as f:
        text = f.read()
    assert 'Profile of one step of IGAN defaults (defaults)' in text
    assert f"Profile of one step of IGAN {result['best']['variant']} (fastest)" in text
    assert all(section in printed for section in text.strip().split('\n\n'))


@pytest.mark.parametrize('key, path', [('IGAN', train_switches.IGAN_OPT), ('RCAN', bench.RCAN_OPT)])
def test_the_tiny_networks_compile_per_block(key, path):
    # Whichever variant is the fastest is timed for RCAN too, regional included.
    entry = bench.load_entry(key, path, [], tiny=True)
    blocks = repeated_blocks(build_network(dict(entry.network_g)))
    assert (blocks.name, len(blocks.modules)) == ('body', 4) and blocks.share >= REGIONAL_MIN_SHARE


def test_a_compiled_variant_compiles_into_an_empty_cache_that_goes_with_it():
    before = os.environ.get('TORCHINDUCTOR_CACHE_DIR')
    with bench.cold_compile_cache() as directory:
        assert os.environ['TORCHINDUCTOR_CACHE_DIR'] == directory and not os.listdir(directory)
        from torch._inductor.runtime.cache_dir_utils import cache_dir
        assert cache_dir() == directory  # where inductor writes and looks up compiled code
    assert not os.path.exists(directory) and os.environ.get('TORCHINDUCTOR_CACHE_DIR') == before


def test_option_file_lines_of_a_combination():
    assert train_switches.yaml_lines({'bf16', 'channels_last', 'fused', 'compile-ro'}) == [
        'channels_last: true', 'compile: {mode: reduce-overhead}', 'train:', '  amp: bf16', '  optim_g:',
        '    fused: true']
    assert train_switches.yaml_lines({'compile'}) == ['compile: true']
    assert train_switches.yaml_lines({'compile', 'regional'}) == ['compile: {regional: true}']
    assert train_switches.yaml_lines({'compile-ro', 'regional'}) == ['compile: {mode: reduce-overhead, regional: true}']
    assert train_switches.yaml_lines(set()) == []


@pytest.mark.parametrize('argv, says', [
    (['--variants', 'bf16+turbo'], "unknown switch 'turbo'"),
    (['--variants', 'compile-ro'], 'compile-ro needs CUDA'),
    (['--variants', 'fp32'], 'fp32 needs CUDA'),
    (['--variants', 'compile+compile-ro'], 'compile and compile-ro exclude each other'),
    (['--variants', 'bf16+regional'], 'regional says how to compile; add compile or compile-ro'),
    (['--variants', 'bf16@0'], 'positive integer'),
    (['--variants', 'best'], "'best'"),
    (['--batch', '0'], '--batch must be at least 1'),
    (['--peak-tflops', '-1'], '--peak-tflops must be positive'),
    (['--igan-opt', 'no/such.yml'], 'no/such.yml'),
    (['--steps', 'many'], 'invalid int value'),
])
def test_refusals_exit_2_with_one_line(argv, says, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(argv + ['--device', 'cpu', '--tiny', '--out', str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'error:' in err and says in err, err
    assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_the_loader_bench_measures_both_lmdbs_against_the_fastest_step(tiny_run, tmp_path, call):
    """bench_train_loader on CPU at tiny sizes, fed the tiny speed run's JSON: a row per LMDB and worker count,
    each compared with what the fastest step consumes."""
    _, speed_out, _, speed = tiny_run
    proc = call(bench_train_loader, '--tiny', '--device', 'cpu', '--work-dir', str(tmp_path),
                '--consume-json', os.path.join(speed_out, 'train_speed.json'), '--out', str(tmp_path / 'out'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / 'out' / 'train_loader.json') as f:
        result = json.load(f)
    assert [(r['encoding'], r['workers']) for r in result['rows']] == [('PNG', 1), ('PNG', 2), ('BMP', 1), ('BMP', 2)]
    fastest = speed['best']['patches_s']
    assert result['need']['patches_s'] == fastest and result['need']['variant'] == speed['best']['variant']
    for row in result['rows']:
        assert row['patches_s'] > 0 and row['of_fastest'] == pytest.approx(row['patches_s'] / fastest)
        assert row['feeds'] == ('yes' if row['patches_s'] >= fastest else 'no')
    assert '| LMDB | workers | patches/s |' in proc.stdout and 'x fastest step' in proc.stdout
    assert os.listdir(tmp_path) == ['out']  # the stand-ins and LMDBs went with their temporary folder


@pytest.mark.parametrize('argv, says', [
    (['--batches', '2'], '--workers must be positive and --batches at least 3.'),
    (['--workers', '0'], '--workers must be positive and --batches at least 3.'),
    (['--consume-json', 'no/such.json'], '--consume-json no/such.json: FileNotFoundError'),
])
def test_the_loader_bench_refuses_on_one_line(argv, says, call, tmp_path):
    proc = call(bench_train_loader, '--tiny', '--device', 'cpu', '--out', str(tmp_path / 'out'), *argv)
    assert proc.returncode == 2 and proc.stderr.startswith('bench_train_loader: error: ') and says in proc.stderr
    assert proc.stderr.count('\n') == 1 and not os.listdir(tmp_path)
