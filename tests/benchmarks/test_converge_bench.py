"""scripts/benchmarks/converge.py: the defaults and a fast setting trained by basicsr's trainer from the same seed on
the same data, compared by the acceptance rule; arguments it cannot run are refused on one line."""
import json
import os
import time
from types import SimpleNamespace

import pytest
import yaml
from conftest import REPO

from scripts.benchmarks import converge


@pytest.mark.slow
def test_a_switch_that_keeps_the_arithmetic_trains_identically_and_is_accepted(tmp_path, call, monkeypatch):
    """channels_last on CPU computes the same numbers: from the same seed and LMDB the two runs must log the same
    losses and score the same PSNR, which is what makes the comparison a paired one."""
    monkeypatch.chdir(tmp_path)
    proc = call(converge, '--tiny', '--compile-backend', 'eager', '--fast', 'channels_last', '--workers', '1',
                '--opt', os.path.join(REPO, 'options', 'train_IGAN_x4.yml'), '--data', str(tmp_path / 'data'),
                '--out', str(tmp_path / 'out'))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(tmp_path / 'out' / 'converge.json') as f:
        result = json.load(f)
    defaults, fast = result['runs']['defaults'], result['runs']['fast']
    assert [p[0] for p in defaults['loss']] == [p[0] for p in fast['loss']] == list(range(2, 21, 2))
    assert [round(p[1], 4) for p in defaults['loss']] == [round(p[1], 4) for p in fast['loss']]
    assert sorted(defaults['psnr'], key=int) == sorted(fast['psnr'], key=int) == ['10', '20']
    assert abs(result['final_psnr_gap']['demo_val']) < 1e-3 and result['accepted'] is True
    assert result['exit_codes'] == {'defaults': 0, 'fast': 0}
    with open(tmp_path / 'out' / 'logs' / 'converge_fast_tiny.yml') as f:
        assert yaml.safe_load(f)['channels_last'] is True
    with open(tmp_path / 'out' / 'logs' / 'converge_defaults_tiny.yml') as f:
        assert 'channels_last' not in yaml.safe_load(f)
    report = (tmp_path / 'out' / 'converge.md').read_text()
    assert '| 20 | ' in report and report.rstrip().endswith('**accepted**.') and report in proc.stdout


def run(loss, psnr):
    return {'loss': loss, 'psnr': {20: psnr}}


@pytest.mark.parametrize('fast_loss, fast_psnr, accepted', [
    (0.100, {'Set5': 29.96, 'demo_val': 30.00}, True),    # 0.04 dB below on one set: within the seeds' spread
    (0.100, {'Set5': 29.94, 'demo_val': 30.00}, False),   # 0.06 dB below on one set
    (0.1019, {'Set5': 30.10, 'demo_val': 30.10}, True),   # last-fifth L1 1.9% higher
    (0.1021, {'Set5': 30.10, 'demo_val': 30.10}, False),  # 2.1% higher, even with a better PSNR
])
def test_the_acceptance_rule(fast_loss, fast_psnr, accepted):
    defaults = run([(2, 0.5), (18, 0.1), (20, 0.1)], {'Set5': 30.0, 'demo_val': 30.0})
    fast = run([(2, 0.5), (18, fast_loss), (20, fast_loss)], fast_psnr)
    result = {'runs': {'defaults': defaults, 'fast': fast}, 'exit_codes': {'defaults': 0, 'fast': 0}}
    found = converge.compare_runs(result, 20)
    assert found['accepted'] is accepted
    assert found['last_fifth_loss']['from_iter'] == 17


def test_a_run_stopped_by_the_time_limit_is_not_accepted():
    same = run([(18, 0.1), (20, 0.1)], {'Set5': 30.0})
    result = {'runs': {'defaults': same, 'fast': same},
              'exit_codes': {'defaults': 0, 'fast': 'stopped at --time-limit 60 s'}}
    assert converge.compare_runs(result, 20)['accepted'] is False


def test_a_training_past_the_time_limit_is_stopped_and_says_so(tmp_path, monkeypatch):
    """The trainer is killed at --time-limit; the run's exit says so and nothing it did not log is made up."""
    monkeypatch.chdir(tmp_path)
    args = SimpleNamespace(out=str(tmp_path / 'out'), imports=[], time_limit=1, compile_backend='inductor')
    opt = {'name': 'converge_stopped', 'train': {}}  # the trainer is stopped while it still starts up
    began = time.perf_counter()
    code, logged = converge.trained(opt, frozenset(), args)
    assert code == 'stopped at --time-limit 1 s' and time.perf_counter() - began < 30
    assert logged == {'loss': [], 'psnr': {}}


@pytest.mark.parametrize('argv, says', [
    (['--fast', 'defaults'], '--fast defaults: needs option-file switches'),
    (['--fast', 'bf16+turbo'], "unknown switch 'turbo'"),
    (['--fast', 'bf16', '--iters', '30', '--val-every', '20'], '--iters 30 must be a multiple of --val-every 20'),
    (['--workers', '0'], '--workers must be at least 1'),
    (['--fast', 'bf16', '--iters', '20', '--val-every', '4', '--print-freq', '5'],
     '--print-freq 5 logs no loss in the last fifth of --iters 20; use at most 4.'),
    (['--fast', 'bf16', '--time-limit', '-1'], '--time-limit must be positive, got -1.0.'),
    (['--fast', 'bf16', '--compile-backend', 'nosuch'], '--compile-backend nosuch: not a torch.compile backend'),
    (['--val', 'no/such/set'], '--val no/such/set: expected the benchmark layout <Name>/HR and <Name>/LR_bicubic/X4'),
    (['--fast-from', 'no/such.json'], '--fast-from no/such.json: no best combination'),
])
def test_refusals_exit_2_with_one_line_and_write_nothing(argv, says, call, tmp_path):
    proc = call(converge, '--data', str(tmp_path / 'data'), '--out', str(tmp_path / 'out'), *argv)
    assert proc.returncode == 2
    assert proc.stderr.startswith('converge: error: ') and proc.stderr.count('\n') == 1, proc.stderr
    assert says in proc.stderr
    assert not os.listdir(tmp_path)


def test_the_fast_setting_is_the_speed_runs_fastest_unless_named(tmp_path):
    speed_run = tmp_path / 'train_speed.json'
    speed_run.write_text(json.dumps({'best': {'switches': ['channels_last', 'fused']}}))
    assert converge.fast_switches(SimpleNamespace(fast=None, fast_from=str(speed_run))) == {'channels_last', 'fused'}
    assert converge.fast_switches(SimpleNamespace(fast='bf16+compile', fast_from=str(speed_run))) == {'bf16', 'compile'}
    assert converge.fast_switches(SimpleNamespace(fast=None, fast_from=None)) == {'bf16', 'channels_last', 'fused',
                                                                                  'compile'}
