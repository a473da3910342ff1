"""The main job (`make demo`) and the paths the README's commands take from it and from options/."""
import glob
import itertools
import os
import re

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import REPO, write_yaml

from igan_basicsr import demo
from igan_basicsr.archs.igan_arch import IGAN
from igan_basicsr.options import read_option_file
from igan_basicsr.prepare.bicubic import bicubic_pair
from igan_basicsr.prepare.photos import photo as bgr_photo

# Where the README and the scripts' usage lines name files: every path in them must exist (or be a command's output).
DOCUMENTS = ['README.md'] + sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, 'docs', '*.md'))
                                 + glob.glob(os.path.join(REPO, 'scripts', '*', '*.py')))
PATH = re.compile(r'(?:options|datasets/demo)/[A-Za-z0-9_./{},-]*[A-Za-z0-9_}]')
# A path a documented command writes (`--out PATH`) exists once that command has run, not after the demo.
WRITTEN = re.compile(r'--out\s+(' + PATH.pattern + ')')
ROW = re.compile(r'^(\w+)\s+(\d+\.\d\d)\s+(\d+\.\d\d)$', re.M)


def named_paths(prefix, pattern=PATH):
    """{path: documents naming it} for every path under `prefix` that `pattern` finds, shell braces expanded."""
    found = {}
    for doc in DOCUMENTS:
        text = open(os.path.join(REPO, doc)).read()
        for match in pattern.findall(text):
            if not match.startswith(prefix):
                continue
            parts = re.split(r'\{([^}]*)\}', match)
            for choice in itertools.product(*[p.split(',') for p in parts[1::2]]):
                path = ''.join(itertools.chain.from_iterable(itertools.zip_longest(parts[::2], choice, fillvalue='')))
                found.setdefault(path, set()).add(doc)
    return found


def test_every_option_file_the_documents_name_exists():
    named = named_paths('options/')
    assert 'options/train_IGAN_x8.yml' in named and 'options/compare/small/EDSR_x4.yml' in named
    missing = {p: sorted(docs) for p, docs in named.items() if not os.path.exists(os.path.join(REPO, p))}
    assert not missing


@pytest.mark.slow
def test_demo_trains_and_writes_what_the_commands_read(tmp_path, call, monkeypatch):
    """`python -m igan_basicsr.demo`, shortened to 400 iterations (a third of its own): it prepares the data, trains
    with basicsr and prints IGAN's PSNR beside bicubic's, IGAN's above on both held-out photographs; every
    datasets/demo path the README and scripts name is then there."""
    with open(os.path.join(REPO, 'options', 'demo_IGAN_x4.yml')) as f:
        opt = yaml.safe_load(f)
    opt['train']['total_iter'] = opt['val']['val_freq'] = opt['logger']['save_checkpoint_freq'] = 400
    opt_file = write_yaml(tmp_path / 'demo.yml', opt)
    monkeypatch.chdir(tmp_path)
    proc = call(demo, '-opt', opt_file)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    rows = {name: (float(ours), float(bicubic)) for name, ours, bicubic in ROW.findall(out)}
    assert sorted(rows) == ['astronaut', 'chelsea', 'mean']
    # Bicubic is fixed by the photographs and basicsr's imresize; the README quotes these figures.
    assert {name: bicubic for name, (_, bicubic) in rows.items()} == {'astronaut': 26.84, 'chelsea': 31.48,
                                                                     'mean': 29.16}
    # What the demo is for: the trained network upscales photographs it never saw better than bicubic does.
    assert all(ours > bicubic for ours, bicubic in rows.values()), rows
    assert (tmp_path / 'experiments' / 'demo_IGAN_x4' / 'models' / 'net_g_latest.pth').is_file()
    named, written = named_paths('datasets/demo'), named_paths('datasets/demo', WRITTEN)
    assert 'datasets/demo/benchmark/demo_val' in named and 'datasets/demo/benchmark/demo_train' in written
    missing = {p: sorted(docs) for p, docs in named.items() if not (tmp_path / p).exists() and p not in written}
    assert not missing


def test_demo_names_a_missing_option_file_before_writing_anything(tmp_path, call, monkeypatch):
    monkeypatch.chdir(tmp_path)
    proc = call(demo, '-opt', 'nope.yml')
    assert proc.returncode == 2 and proc.stderr.strip().endswith('error: option file not found: nope.yml')
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
def test_demo_stops_with_the_log_when_training_fails(tmp_path, call, monkeypatch):
    with open(os.path.join(REPO, 'options', 'demo_IGAN_x4.yml')) as f:
        opt = yaml.safe_load(f)
    # Larger than the demo's 240-pixel sub-images: the training's option checks refuse it once the demo has written
    # the data they look at.
    opt['datasets']['train']['gt_size'] = 1000
    monkeypatch.chdir(tmp_path)
    proc = call(demo, '-opt', write_yaml(tmp_path / 'demo.yml', opt))
    assert proc.returncode == 1
    assert 'datasets.train.gt_size: 1000 is larger than the HR images of ' in proc.stdout + proc.stderr
    assert proc.stderr.strip().endswith('error: training failed (exit 1): its output is above, its log under '
                                        f"experiments/{opt['name']}/.")
    assert 'Validation x4' not in proc.stdout


def test_the_demo_picture_puts_crops_side_by_side(tmp_path, monkeypatch):
    """`make demo`'s last step, on a held-out photograph with an untrained network of the demo's size."""
    opt = read_option_file(os.path.join(REPO, 'options', 'demo_IGAN_x4.yml'))
    monkeypatch.chdir(tmp_path)
    val = opt['datasets']['val']
    hr, lr = bicubic_pair(bgr_photo('astronaut')[:200, :240], 4)
    for folder, name, img in ((val['dataroot_gt'], 'astronaut.png', hr), (val['dataroot_lq'], 'astronautx4.png', lr)):
        os.makedirs(folder)
        cv2.imwrite(os.path.join(folder, name), img)
    network = {k: v for k, v in opt['network_g'].items() if k != 'type'}
    torch.save({'params': IGAN(**network).state_dict()}, 'net_g.pth')
    path = demo.write_picture(opt, 'net_g.pth')
    assert path == os.path.join('results', 'demo', 'astronaut_x4_bicubic_IGAN_original.png')
    picture = cv2.imread(path)
    side = demo.CROP * demo.ZOOM
    assert picture.shape == (demo.LABEL_HEIGHT + side, 3 * side + 2 * demo.GAP, 3)
    # The right-hand crop is the original, enlarged by repeating pixels.
    original = picture[demo.LABEL_HEIGHT:, -side:]
    assert np.array_equal(original[::demo.ZOOM, ::demo.ZOOM], original[1::demo.ZOOM, 1::demo.ZOOM])
