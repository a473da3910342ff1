import os
import re
import shutil

import pytest
from conftest import SET5, ratio_tolerance

from scripts.benchmarks import bench_loader, bench_prepare


@pytest.mark.slow
def test_bench_prepare_times_both_routes_and_finds_the_same_images(tmp_path, call):
    hr = tmp_path / 'hr'
    hr.mkdir()
    # 512x512, a multiple of both scales: the two routes cut the same sub-images.
    for stem in ('0001', '0002'):
        shutil.copy(os.path.join(SET5, 'HR', 'baby.png'), hr / f'{stem}.png')
    proc = call(bench_prepare, str(hr), '--workers', '1', '--work-dir', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    two_step = float(re.search(r'two-step \(BasicSR scripts\)\s+([\d.]+) s', proc.stdout)[1])
    one_pass = float(re.search(r'one pass \(prepare_div2k_lmdb\)\s+([\d.]+) s', proc.stdout)[1])
    speed_up = float(re.search(r'speed-up\s+([\d.]+) x', proc.stdout)[1])
    # The times are printed to 0.1 s, the ratio from the unrounded times.
    assert (two_step - 0.05) / (one_pass + 0.05) - 0.01 <= speed_up <= (two_step + 0.05) / (one_pass - 0.05) + 0.01
    assert 'same keys and pixels in every LMDB: yes' in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ['hr']  # temporary folders removed


@pytest.mark.slow
def test_bench_loader_reports_every_store_with_its_ratio(tmp_path, call):
    proc = call(bench_loader, '--count', '1', '--batches', '2', '--workers', '1', '--work-dir', str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = re.findall(r'^(PNG folders|PNG LMDB|BMP LMDB)\s+([\d.]+) \(\s*([\d.]+) x\)', proc.stdout, re.M)
    assert [r[0] for r in rows] == ['PNG folders', 'PNG LMDB', 'BMP LMDB']
    # Each store's ratio is its patches/s over the PNG folders', from the unrounded rates (printed to 1 decimal).
    base = float(rows[0][1])
    for _, rate, ratio in rows:
        rate = float(rate)
        assert rate > 0
        assert float(ratio) == pytest.approx(rate / base, abs=ratio_tolerance(rate, base))
    assert rows[0][2] == '1.00'
    assert os.listdir(tmp_path) == []


def test_bench_prepare_refuses_count_with_an_hr_folder(tmp_path, call):
    proc = call(bench_prepare, str(tmp_path), '--count', '3')
    assert proc.returncode == 2
    assert 'error: --count sets how many stand-in photographs to make, and with an HR folder none are made: ' \
        'drop one of the two.' in proc.stderr
    assert os.listdir(tmp_path) == []
