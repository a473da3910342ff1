"""scripts/benchmarks/data.py: `prepare` times BasicSR's two steps against the one pass and finds the same images;
`loader` reads every store through basicsr's loader and compares it with the other stores and with what the
fastest training step eats; what cannot run is refused on one line."""
import csv
import json
import os
import re
import shutil

import pytest
from conftest import SET5, ratio_tolerance

from scripts.benchmarks import data


@pytest.mark.slow
def test_prepare_times_both_routes_and_finds_the_same_images(tmp_path, call):
    hr = tmp_path / 'hr'
    hr.mkdir()
    # 512x512, a multiple of both scales: the two routes cut the same sub-images.
    for stem in ('0001', '0002'):
        shutil.copy(os.path.join(SET5, 'HR', 'baby.png'), hr / f'{stem}.png')
    proc = call(data, 'prepare', str(hr), '--workers', '1', '--work-dir', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    stages = [float(s) for s in re.findall(r'^  two-step .+?\s+([\d.]+) s$', proc.stdout, re.M)]
    two_step = float(re.search(r'two-step \(BasicSR scripts\)\s+([\d.]+) s', proc.stdout)[1])
    one_pass = float(re.search(r'one pass \(prepare_div2k_lmdb\)\s+([\d.]+) s', proc.stdout)[1])
    speed_up = float(re.search(r'speed-up\s+([\d.]+) x', proc.stdout)[1])
    # The two-step time is its three stages' (each printed to 0.1 s); the ratio from the unrounded times.
    assert len(stages) == 3 and sum(stages) == pytest.approx(two_step, abs=0.21)
    assert (two_step - 0.05) / (one_pass + 0.05) - 0.01 <= speed_up <= (two_step + 0.05) / (one_pass - 0.05) + 0.01
    assert '2 photographs, scales [4, 8], 1 workers' in proc.stdout
    assert 'same keys and pixels in every LMDB: yes' in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ['hr']  # temporary folders removed


@pytest.mark.slow
def test_loader_reads_every_store_and_compares_it_with_the_fastest_step(tmp_path, call):
    speed_run = tmp_path / 'train_speed.json'
    speed_run.write_text(json.dumps({'best': {'patches_s': 20.0, 'variant': 'compile', 'ms': 200.0}}))
    out = tmp_path / 'out'
    proc = call(data, 'loader', '--tiny', '--count', '1', '--workers', '1', '--batches', '2', '--device', 'cpu',
                '--consume-json', str(speed_run), '--work-dir', str(tmp_path), '--out', str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / 'loader.json') as f:
        result = json.load(f)
    rows = result['rows']
    assert [(r['store'], r['workers']) for r in rows] == [('PNG folders', 1), ('PNG LMDB', 1), ('BMP LMDB', 1)]
    assert result['need'] == {'patches_s': 20.0, 'variant': 'compile'}
    for row in rows:
        assert row['patches_s'] > 0 and row['first_batch_s'] > 0
        assert row['of_first'] == pytest.approx(row['patches_s'] / rows[0]['patches_s'])
        assert row['of_fastest'] == pytest.approx(row['patches_s'] / 20.0)
        assert row['feeds'] == ('yes' if row['patches_s'] >= 20.0 else 'no')
    # The same sub-images: uncompressed BMP takes more room than PNG, in the LMDB as in files.
    sizes = {r['store']: r['mib'] for r in rows}
    assert sizes['BMP LMDB'] > sizes['PNG LMDB'] > 0 and sizes['BMP LMDB'] > sizes['PNG folders'] > 0
    # The table as printed and written: patches/s to 1 decimal, the ratio from the unrounded rates.
    with open(out / 'loader.csv') as f:
        assert [r['store'] for r in csv.DictReader(f)] == [r['store'] for r in rows]
    printed = re.findall(r'^\| (PNG folders|PNG LMDB|BMP LMDB) \| 1 \| ([\d.]+) \| ([\d.]+) \|', proc.stdout, re.M)
    base = float(printed[0][1])
    for _, rate, ratio in printed:
        assert float(ratio) == pytest.approx(float(rate) / base, abs=ratio_tolerance(float(rate), base))
    assert len(printed) == 3 and printed[0][2] == '1.00' and '| x fastest step | feeds it |' in proc.stdout
    assert 'The fastest training step (compile) consumes 20 patches/s' in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ['out', 'train_speed.json']  # the stores went with their temporary folder


@pytest.mark.parametrize('argv, says', [
    (['prepare', 'TMP', '--count', '3'], 'data prepare: error: --count sets how many stand-in photographs to make, '
                                         'and with an HR folder none are made: drop one of the two.'),
    (['loader', '--batches', '0'], 'data loader: error: --batches must be at least 1, got 0.'),
    (['loader', '--warmup', '0'], 'data loader: error: --warmup must be at least 1, got 0.'),
    (['loader', '--workers', '2', '0'], 'data loader: error: --workers must be at least 1, got 0.'),
    (['loader', '--stores', 'jpeg'], "data loader: error: argument --stores: invalid choice: 'jpeg'"),
    (['loader', '--consume-json', 'no/such.json'], 'data loader: error: --consume-json no/such.json: '
                                                   'FileNotFoundError'),
])
def test_refusals_exit_2_with_one_line_and_write_nothing(argv, says, call, tmp_path):
    out = ['--out', str(tmp_path / 'out')] if argv[0] == 'loader' else []
    proc = call(data, *[str(tmp_path) if a == 'TMP' else a for a in argv], *out)
    assert proc.returncode == 2 and proc.stderr.startswith(says) and proc.stderr.count('\n') == 1, proc.stderr
    assert os.listdir(tmp_path) == []
