import os
import re
import shutil
from types import SimpleNamespace

import cv2
import lmdb
import numpy as np
import pytest
from basicsr.data import build_dataset
from basicsr.utils import FileClient, imfrombytes
from conftest import SET5, run_main

from igan_basicsr.prepare import div2k_lmdb
from igan_basicsr.prepare.bicubic import bicubic_pair
from igan_basicsr.prepare.div2k_lmdb import prepare_div2k_lmdb
from igan_basicsr.prepare.errors import PrepareError
from igan_basicsr.prepare.images import encode
from igan_basicsr.prepare.lmdb_images import LmdbImageWriter, check_lmdb, decode_value, read_meta_info
from igan_basicsr.prepare.subimages import Grid, subimage_key
from scripts.data_preparation import prepare_div2k_lmdb as script

NAMES = ['DIV2K_train_HR_sub.lmdb', 'DIV2K_train_LR_bicubic_X4_sub.lmdb', 'DIV2K_train_LR_bicubic_X8_sub.lmdb']
# Tiny grid for real Set5 photographs: 96-pixel HR sub-images every 48 pixels (24 and 12 at x4 and x8).
SMALL = ['--crop', '96', '--step', '48']
SMALL_GRID = Grid(96, 48)
# By hand from BasicSR's rule (starts every 48 up to side-96, plus side-96 if pixels are left over), after
# cropping to a multiple of 8: baby 512x512 -> 10 x 10; woman 344x228 -> 344x224 -> rows 0..240, 248 (7) x
# columns 0, 48, 96, 128 (4).
SUB_IMAGES = {'0001': 100, '0002': 28}


def div2k_root(path, photos=('baby', 'woman')):
    hr_dir = path / 'DIV2K_train_HR'
    hr_dir.mkdir(parents=True)
    for i, name in enumerate(photos, 1):
        shutil.copy(os.path.join(SET5, 'HR', f'{name}.png'), hr_dir / f'{i:04d}.png')
    return path


def lmdb_image(folder, key):
    client = FileClient('lmdb', db_paths=[str(folder)], client_keys=['x'])
    return imfrombytes(client.get(key, 'x'), flag='unchanged')


def lmdb_keys(folder):
    env = lmdb.open(str(folder), readonly=True, lock=False)
    with env.begin() as txn:
        keys = {k.decode() for k in txn.cursor().iternext(values=False)}
    env.close()
    return keys


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    root = div2k_root(tmp_path_factory.mktemp('div2k'))
    proc = run_main(script, ['--root', str(root), '--workers', '2'] + SMALL)
    assert proc.returncode == 0, proc.stderr
    return root, proc


def test_grid_positions_and_names_follow_basicsr():
    positions = Grid().positions(1352, 2040)
    assert len(positions) == 5 * 8
    assert positions[:8] == [(0, left) for left in (0, 240, 480, 720, 960, 1200, 1440, 1560)]
    assert [top for top, _ in positions[::8]] == [0, 240, 480, 720, 872]
    # Left over past the regular starts: 152 rows, 120 columns; only the side above thresh_size gets an extra.
    assert len(Grid(thresh_size=130).positions(1352, 2040)) == 5 * 7
    assert Grid().positions(480, 480) == [(0, 0)]
    assert subimage_key('0001', 1) == '0001_s001' and subimage_key('0801', 1000) == '0801_s1000'


def test_one_run_writes_every_lmdb_with_basicsr_meta_info(prepared):
    root, proc = prepared
    assert sorted(p for p in os.listdir(root) if 'lmdb' in p) == NAMES
    total = sum(SUB_IMAGES.values())
    expected = {subimage_key(stem, i) for stem, n in SUB_IMAGES.items() for i in range(1, n + 1)}
    for name, side in zip(NAMES, (96, 24, 12)):
        assert sorted(os.listdir(root / name)) == ['data.mdb', 'lock.mdb', 'meta_info.txt']
        lines = (root / name / 'meta_info.txt').read_text().splitlines()
        assert len(lines) == total
        assert lines[0] == f'0001_s001.png ({side},{side},3) 1'
        assert lines[-1] == f'0002_s028.png ({side},{side},3) 1'
        assert lmdb_keys(root / name) == expected
    assert f'wrote {root / NAMES[0]}: {total} images' in proc.stdout
    assert re.search(rf'expected output size about \d+\.\d\d GB; [\d.]+ GB free in {root}\n', proc.stdout)
    assert 'img/s' in proc.stderr


def test_lr_sub_images_are_the_bicubic_lr_at_the_hr_places(prepared):
    root, _ = prepared
    hr = cv2.imread(os.path.join(SET5, 'HR', 'woman.png'))[:344, :224]
    # Numbers 4, 5 and 28: last column of row one, first of row two, the bottom-right corner.
    for index, (top, left) in ((4, (0, 128)), (5, (48, 0)), (28, (248, 128))):
        key = f'0002_s{index:03d}'
        assert np.array_equal(lmdb_image(root / NAMES[0], key), hr[top:top + 96, left:left + 96])
        for name, scale in zip(NAMES[1:], (4, 8)):
            lr = bicubic_pair(hr, scale)[1]
            side = 96 // scale
            expected = lr[top // scale:top // scale + side, left // scale:left // scale + side]
            assert np.array_equal(lmdb_image(root / name, key), expected)


def test_bmp_lmdb_holds_the_same_pixels_and_basicsr_trains_from_it(prepared, tmp_path):
    root, _ = prepared
    out = tmp_path / 'bmp'
    prepare_div2k_lmdb(str(root), (4,), out=str(out), grid=SMALL_GRID, encoding='bmp', workers=1)
    lines = (out / NAMES[1] / 'meta_info.txt').read_text().splitlines()
    assert lines[0] == '0001_s001.bmp (24,24,3) 0'
    for key in ('0001_s001', '0001_s100', '0002_s017'):
        for name in NAMES[:2]:
            assert np.array_equal(lmdb_image(out / name, key), lmdb_image(root / name, key))
    dataset = build_dataset({'name': 'bmp', 'type': 'PairedImageDataset', 'phase': 'train', 'scale': 4,
                             'dataroot_gt': str(out / NAMES[0]), 'dataroot_lq': str(out / NAMES[1]),
                             'io_backend': {'type': 'lmdb'}, 'filename_tmpl': '{}', 'gt_size': 32,
                             'use_hflip': True, 'use_rot': True})
    item = dataset[0]
    assert len(dataset) == 128 and item['gt'].shape == (3, 32, 32) and item['lq'].shape == (3, 8, 8)


def test_existing_lmdbs_are_refused_in_one_line_and_left_alone(prepared, call):
    root, _ = prepared
    before = os.stat(root / NAMES[0] / 'data.mdb').st_mtime_ns
    proc = call(script, '--root', str(root), *SMALL)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('prepare_div2k_lmdb: error: ')
    assert str(root / NAMES[0]) in lines[0] and '--overwrite' in lines[0]
    assert os.stat(root / NAMES[0] / 'data.mdb').st_mtime_ns == before


def test_overwrite_replaces_and_leftovers_of_an_interrupted_run_are_cleared(tmp_path):
    root = div2k_root(tmp_path, photos=('woman',))
    stale = tmp_path / (NAMES[0] + '.partial')
    stale.mkdir()
    (stale / 'data.mdb').write_bytes(b'half written')
    prepare_div2k_lmdb(str(root), (4,), grid=SMALL_GRID, workers=1)
    assert not stale.exists() and lmdb_keys(root / NAMES[0]) == {f'0001_s{i:03d}' for i in range(1, 29)}
    shutil.copy(os.path.join(SET5, 'HR', 'baby.png'), root / 'DIV2K_train_HR' / '0002.png')
    prepare_div2k_lmdb(str(root), (4,), grid=SMALL_GRID, workers=1, overwrite=True)
    assert len(lmdb_keys(root / NAMES[1])) == 128
    assert sorted(p for p in os.listdir(root) if 'lmdb' in p) == NAMES[:2]


def test_a_damaged_image_fails_the_run_and_keeps_the_previous_lmdbs(tmp_path):
    root = div2k_root(tmp_path, photos=('woman',))
    prepare_div2k_lmdb(str(root), (4,), grid=SMALL_GRID, workers=1)
    damaged = root / 'DIV2K_train_HR' / '0002.png'
    data = open(os.path.join(SET5, 'HR', 'baby.png'), 'rb').read()
    damaged.write_bytes(data[:len(data) // 2])  # header intact, pixels cut off
    with pytest.raises(PrepareError, match=f'cannot decode image {damaged}'):
        prepare_div2k_lmdb(str(root), (4,), grid=SMALL_GRID, workers=2, overwrite=True)
    assert sorted(p for p in os.listdir(root) if 'lmdb' in p) == NAMES[:2]
    assert len(lmdb_keys(root / NAMES[0])) == 28
    assert lmdb_image(root / NAMES[1], '0001_s028').shape == (24, 24, 3)


@pytest.mark.parametrize('setup, kwargs, message', [
    ('tiny', {}, r'0002.png is 80x80 \(cropped to a multiple of 8\), smaller than the crop size 96'),
    ('space', {}, r'0001 copy.png: the name .0001 copy. cannot be an LMDB key'),
    ('none', {}, r'image folder not found: .*DIV2K_train_HR'),
    ('ok', {'grid': Grid(100, 52)}, r'crop size 100 and step 52 must both be multiples of scale 8'),
    ('ok', {'scales': (4, 4)}, r'scales must be distinct'),
], ids=['too-small', 'bad-name', 'no-folder', 'grid-vs-scale', 'repeated-scale'])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, setup, kwargs, message):
    root = tmp_path / 'DIV2K'
    if setup != 'none':
        div2k_root(root, photos=('woman',))
    if setup == 'tiny':
        cv2.imwrite(str(root / 'DIV2K_train_HR' / '0002.png'), np.zeros((85, 85, 3), np.uint8))
    if setup == 'space':
        os.rename(root / 'DIV2K_train_HR' / '0001.png', root / 'DIV2K_train_HR' / '0001 copy.png')
    options = {'scales': (4, 8), 'grid': SMALL_GRID, 'workers': 1, **kwargs}
    with pytest.raises(PrepareError, match=message):
        prepare_div2k_lmdb(str(root), **options)
    assert not list(tmp_path.rglob('*lmdb*'))


def test_too_little_disk_space_is_refused_before_writing(tmp_path, monkeypatch):
    root = div2k_root(tmp_path, photos=('woman',))
    monkeypatch.setattr(div2k_lmdb.shutil, 'disk_usage', lambda path: SimpleNamespace(free=1000))
    with pytest.raises(PrepareError, match=r'has 0.00 GB free but the output needs about'):
        prepare_div2k_lmdb(str(root), (4,), grid=SMALL_GRID, workers=1)
    assert not list(tmp_path.rglob('*lmdb*'))


def test_the_map_grows_when_the_size_estimate_is_too_small(tmp_path):
    path = str(tmp_path / 'grow.lmdb')
    writer = LmdbImageWriter(path, 'png', map_size=0)
    noise = np.random.default_rng(0).integers(0, 256, (8, 300, 300, 3), dtype=np.uint8)
    keys = [f'n{i}' for i in range(len(noise))]
    for key, img in zip(keys, noise):
        writer.add(key, img.shape, encode(img, 'png'))
    writer.close()
    assert os.path.getsize(os.path.join(path + '.partial', 'data.mdb')) > 2 * 2 ** 20  # the 1 MiB floor, outgrown
    check_lmdb(path + '.partial', keys)
    assert np.array_equal(lmdb_image(path + '.partial', 'n7'), noise[7])


def test_replacing_hr_alone_would_strand_other_scales_and_is_refused(tmp_path):
    root = div2k_root(tmp_path, photos=('woman',))
    prepare_div2k_lmdb(str(root), (4, 8), grid=SMALL_GRID, workers=1)
    with pytest.raises(PrepareError, match=r'would leave .*DIV2K_train_LR_bicubic_X8_sub.lmdb cut from the old HR'):
        prepare_div2k_lmdb(str(root), (4,), grid=SMALL_GRID, workers=1, overwrite=True)
    assert sorted(p for p in os.listdir(root) if 'lmdb' in p) == NAMES


def test_given_lr_images_are_used_and_absent_ones_are_made(tmp_path, call):
    root = div2k_root(tmp_path)
    baby = cv2.imread(os.path.join(SET5, 'HR', 'baby.png'))
    # Not what bicubic would make, so the LMDB shows which one it holds.
    given = 255 - bicubic_pair(baby, 4)[1]
    (root / 'DIV2K_train_LR_bicubic' / 'X4').mkdir(parents=True)
    cv2.imwrite(str(root / 'DIV2K_train_LR_bicubic' / 'X4' / '0001x4.png'), given)
    proc = call(script, '--root', str(root), '--workers', '1', *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert (f"X4: 1 LR images from {root / 'DIV2K_train_LR_bicubic' / 'X4'}, 1 made with MATLAB bicubic from the "
            'HR images cropped to a multiple of 8') in proc.stdout
    assert 'X8: 0 LR images from' in proc.stdout and '2 made with MATLAB bicubic' in proc.stdout
    # 0001_s015: row 2, column 5 of baby's 10 x 10 grid.
    assert np.array_equal(lmdb_image(root / NAMES[1], '0001_s015'), given[12:36, 48:72])
    woman = cv2.imread(os.path.join(SET5, 'HR', 'woman.png'))[:344, :224]
    assert np.array_equal(lmdb_image(root / NAMES[1], '0002_s001'), bicubic_pair(woman, 4)[1][:24, :24])


@pytest.mark.parametrize('name, size, message', [
    ('0002x4.png', (56, 57), r'0002x4.png is 56x57, not its HR image.s size / 4 \(86x57\)'),
    ('0003x4.png', (10, 10), r'0003x4.png has no HR image 0003.\* in'),
    ('0001.png', (128, 128), r'0001.png: LR images of X4 are named \{HR name\}x4.png'),
], ids=['wrong-size', 'no-hr', 'bad-name'])
def test_a_given_lr_image_that_does_not_fit_is_refused_before_writing(tmp_path, name, size, message):
    root = div2k_root(tmp_path)
    (root / 'DIV2K_train_LR_bicubic' / 'X4').mkdir(parents=True)
    cv2.imwrite(str(root / 'DIV2K_train_LR_bicubic' / 'X4' / name), np.zeros(size + (3,), np.uint8))
    with pytest.raises(PrepareError, match=message):
        prepare_div2k_lmdb(str(root), (4, 8), grid=SMALL_GRID, workers=1)
    assert not list(tmp_path.rglob('*lmdb*'))


def div2k(tmp_path, scales):
    """A one-photograph DIV2K root (Set5's woman) prepared at `scales` on a 96-pixel grid."""
    root = str(div2k_root(tmp_path / 'DIV2K', ('woman', )))
    return root, prepare_div2k_lmdb(root, scales, grid=SMALL_GRID, workers=1)


def test_scales_8_beside_an_existing_hr_lmdb_adds_x8_only(tmp_path, call):
    root, (hr, x4, x8) = div2k(tmp_path, (4, 8))
    shutil.move(x8, tmp_path / 'x8_of_the_full_run')
    before = os.stat(os.path.join(hr, 'data.mdb')).st_mtime_ns
    proc = call(script, '--root', root, '--scales', '8', '--crop', '96', '--step', '48', '--workers', '1')
    assert proc.returncode == 0, proc.stderr
    assert f'{hr} holds the 28 sub-images this grid cuts: adding {x8} beside it' in proc.stdout
    assert os.stat(os.path.join(hr, 'data.mdb')).st_mtime_ns == before
    check_lmdb(x8, [key for key, _ in read_meta_info(hr)])
    for key in ('0001_s001', '0001_s028'):
        assert np.array_equal(decode_value(x8, key), decode_value(str(tmp_path / 'x8_of_the_full_run'), key))


def test_scales_8_beside_an_hr_lmdb_cut_for_x4_alone_says_why_it_cannot(tmp_path, call):
    # woman is 344x228: cropped to a multiple of 4 (x4 alone) its last column of sub-images starts at 132, cropped
    # to a multiple of 8 at 128; the keys are the same, the pixels are not.
    root, (hr, x4) = div2k(tmp_path, (4, ))
    proc = call(script, '--root', root, '--scales', '8', '--crop', '96', '--step', '48', '--workers', '1')
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f'prepare_div2k_lmdb: error: {hr}: 0001_s028 is not the sub-image this run cuts at its place: the HR LMDB '
        'was cut from photographs cropped to another multiple of the scales, or from other photographs; rebuild '
        'every scale with --overwrite, or write the new scales elsewhere with --out')
    assert sorted(os.listdir(root)) == ['DIV2K_train_HR', os.path.basename(hr), os.path.basename(x4)]
    proc = call(script, '--root', root, '--scales', '8', '--crop', '144', '--step', '48', '--workers', '1')
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == (
        f"prepare_div2k_lmdb: error: {hr} holds 28 sub-images, not the 18 this grid cuts (missing [], unexpected "
        "['0001_s019', '0001_s020', '0001_s021']): it was cut from other photographs or with another --crop/--step; "
        'rebuild every scale with --overwrite, or write the new scales elsewhere with --out')
