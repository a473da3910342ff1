import os
import re
import shutil

from conftest import REPO, SET5, run_cli


def test_bench_prepare_times_both_routes_and_finds_the_same_images(tmp_path):
    hr = tmp_path / 'hr'
    hr.mkdir()
    # 512x512, a multiple of both scales: the two routes cut the same sub-images.
    for stem in ('0001', '0002'):
        shutil.copy(os.path.join(SET5, 'HR', 'baby.png'), hr / f'{stem}.png')
    proc = run_cli(['python', os.path.join(REPO, 'scripts', 'benchmarks', 'bench_prepare.py'), str(hr), '--workers', '1',
                    '--work-dir', str(tmp_path)], cwd=tmp_path)
    two_step = float(re.search(r'two-step \(BasicSR scripts\)\s+([\d.]+) s', proc.stdout)[1])
    one_pass = float(re.search(r'one pass \(prepare_div2k_lmdb\)\s+([\d.]+) s', proc.stdout)[1])
    speed_up = float(re.search(r'speed-up\s+([\d.]+) x', proc.stdout)[1])
    # The times are printed to 0.1 s, the ratio from the unrounded times.
    assert (two_step - 0.05) / (one_pass + 0.05) - 0.01 <= speed_up <= (two_step + 0.05) / (one_pass - 0.05) + 0.01
    assert 'same keys and pixels in every LMDB: yes' in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ['hr']  # temporary folders removed


def test_bench_loader_reports_every_store_with_its_ratio(tmp_path):
    proc = run_cli(['python', os.path.join(REPO, 'scripts', 'benchmarks', 'bench_loader.py'), '--count', '1', '--batches', '2',
                    '--workers', '1', '--work-dir', str(tmp_path)], cwd=tmp_path)
    rows = re.findall(r'^(PNG folders|PNG LMDB|BMP LMDB)\s+([\d.]+) \(\s*([\d.]+) x\)', proc.stdout, re.M)
    assert [r[0] for r in rows] == ['PNG folders', 'PNG LMDB', 'BMP LMDB']
    assert rows[0][2] == '1.00' and all(float(r[1]) > 0 for r in rows)
    assert os.listdir(tmp_path) == []


def test_bench_prepare_refuses_count_with_an_hr_folder(tmp_path):
    proc = run_cli(['python', os.path.join(REPO, 'scripts', 'benchmarks', 'bench_prepare.py'), str(tmp_path), '--count', '3'],
                   cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert 'error: --count sets how many stand-in photographs to make, and with an HR folder none are made: ' \
        'drop one of the two.' in proc.stderr
    assert os.listdir(tmp_path) == []
