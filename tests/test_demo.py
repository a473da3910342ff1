"""The main job (`make demo`) and the paths the README's commands take from it and from options/."""
import glob
import itertools
import os
import re

import pytest
import yaml
from conftest import REPO, write_yaml

from igan_basicsr import demo

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
    """`python -m igan_basicsr.demo`, shortened to 20 iterations: it prepares the data, trains with basicsr and
    prints IGAN's PSNR beside bicubic's; every datasets/demo path the README and scripts name is then there."""
    with open(os.path.join(REPO, 'options', 'demo_IGAN_x4.yml')) as f:
        opt = yaml.safe_load(f)
    opt['train']['total_iter'] = opt['val']['val_freq'] = opt['logger']['save_checkpoint_freq'] = 20
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
    assert all(20 < ours < 40 for ours, _ in rows.values())
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
