import os

import cv2
import numpy as np
import pytest
from conftest import SET5

from igan_basicsr.prepare.benchmark_sets import prepare_benchmark
from igan_basicsr.prepare.errors import PrepareError
from scripts.data_preparation import prepare_benchmark as script

STEMS = ['baby', 'bird', 'butterfly', 'head', 'woman']


def test_set5_made_from_hr_matches_the_published_set(tmp_path, call):
    made = tmp_path / 'benchmark' / 'Set5'
    proc = call(script, '--hr', os.path.join(SET5, 'HR'), '--out', str(made), '--scales', '2', '3', '4', '8')
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(made)) == ['HR', 'LR_bicubic']
    assert sorted(os.listdir(made / 'LR_bicubic')) == ['X2', 'X3', 'X4', 'X8']
    assert sorted(os.listdir(made / 'HR')) == [f'{s}.png' for s in STEMS]
    for scale in (2, 3):
        for stem in STEMS:
            height, width = cv2.imread(os.path.join(SET5, 'HR', f'{stem}.png')).shape[:2]
            lr = cv2.imread(str(made / 'LR_bicubic' / f'X{scale}' / f'{stem}x{scale}.png'))
            assert lr.shape == (height // scale, width // scale, 3)
    for stem in STEMS:
        assert np.array_equal(cv2.imread(str(made / 'HR' / f'{stem}.png')),
                              cv2.imread(os.path.join(SET5, 'HR', f'{stem}.png')))
    for scale in (4, 8):
        names = sorted(os.listdir(made / 'LR_bicubic' / f'X{scale}'))
        assert names == sorted(os.listdir(os.path.join(SET5, 'LR_bicubic', f'X{scale}')))
        for name in names:
            ours = cv2.imread(str(made / 'LR_bicubic' / f'X{scale}' / name))
            assert ours.shape == cv2.imread(os.path.join(SET5, 'LR_bicubic', f'X{scale}', name)).shape
    diffs = np.concatenate([
        np.abs(cv2.imread(str(made / 'LR_bicubic' / 'X4' / f'{s}x4.png')).astype(int)
               - cv2.imread(os.path.join(SET5, 'LR_bicubic', 'X4', f'{s}x4.png')).astype(int)).ravel()
        for s in STEMS])
    assert (diffs <= 1).mean() >= 0.995


def test_an_existing_set_is_refused_unless_overwritten(tmp_path, call):
    hr = tmp_path / 'hr'
    hr.mkdir()
    cv2.imwrite(str(hr / 'a.png'), np.full((40, 48, 3), 90, np.uint8))
    prepare_benchmark(str(hr), str(tmp_path / 'out' / 'S'), (4,))
    with pytest.raises(PrepareError, match=r'out/S already exists: pass --overwrite'):
        prepare_benchmark(str(hr), str(tmp_path / 'out' / 'S'), (4,))
    # The script says so in one line.
    refused = call(script, '--hr', str(hr), '--out', str(tmp_path / 'out' / 'S'), '--scales', '4')
    assert refused.returncode == 1
    assert refused.stderr.startswith('prepare_benchmark: error: ') and refused.stderr.count('\n') == 1
    assert 'out/S already exists: pass --overwrite' in refused.stderr
    cv2.imwrite(str(hr / 'b.png'), np.full((40, 48), 200, np.uint8))  # grey: stored with 3 channels
    prepare_benchmark(str(hr), str(tmp_path / 'out' / 'S'), (2, 4), overwrite=True)
    assert sorted(os.listdir(tmp_path / 'out' / 'S' / 'LR_bicubic' / 'X2')) == ['ax2.png', 'bx2.png']
    assert cv2.imread(str(tmp_path / 'out' / 'S' / 'HR' / 'b.png'), cv2.IMREAD_UNCHANGED).shape == (40, 48, 3)
    assert cv2.imread(str(tmp_path / 'out' / 'S' / 'LR_bicubic' / 'X4' / 'bx4.png')).shape == (10, 12, 3)
    assert sorted(os.listdir(tmp_path / 'out')) == ['S']


def test_a_transparent_image_fails_without_leaving_a_set(tmp_path):
    hr = tmp_path / 'hr'
    hr.mkdir()
    cv2.imwrite(str(hr / 'a.png'), np.full((32, 32, 3), 90, np.uint8))
    cv2.imwrite(str(hr / 'b.png'), np.zeros((32, 32, 4), np.uint8))
    with pytest.raises(PrepareError, match=r'b.png has transparent pixels'):
        prepare_benchmark(str(hr), str(tmp_path / 'out' / 'S'), (4,))
    assert os.listdir(tmp_path / 'out') == []
