"""Plugins everywhere: a network in a package announced by a `basicsr.plugins` entry point, and one in a package
that only registers on import (`--import MODULE`), found by every command that builds a network."""
import os
import re
import textwrap

import cv2
import pytest
import torch
from basicsr.archs import build_network
from conftest import SET5, plugins_on_path, run_cli, write_plugin_packages, write_yaml

from igan_basicsr import cli
from igan_basicsr.infer import command as infer
from igan_basicsr.plugins import load_plugins, take_imports


@pytest.fixture(scope='module')
def plugin_path(tmp_path_factory):
    return write_plugin_packages(tmp_path_factory.mktemp('plugins'), [('announced_plugin', 'AnnouncedNet')],
                                 [('silent_plugin', 'SilentNet'), ('silent_scored_plugin', 'SilentScoredNet')])


@pytest.fixture
def plugins(plugin_path, monkeypatch):
    return plugins_on_path(plugin_path, monkeypatch)


def toy_options(tmp_path, arch, weights):
    net = {'type': arch, 'upscale': 4, 'num_feat': 8}
    # Weights of the same layers, made through the announced network: building the one named in the file would
    # register its package here, before the test has checked that the command finds it.
    load_plugins()
    torch.manual_seed(0)
    torch.save({'params': build_network(dict(net, type='AnnouncedNet')).state_dict()}, weights)
    return write_yaml(tmp_path / f'{arch}.yml', {
        'name': arch, 'model_type': 'SwitchSRModel', 'scale': 4, 'num_gpu': 0, 'network_g': net,
        'path': {'pretrain_network_g': str(weights), 'strict_load_g': True}})


def test_take_imports_reads_both_spellings():
    assert take_imports(['-opt', 'a.yml', '--import', 'hat', '--import=x.y', '--debug']) == (
        ['hat', 'x.y'], ['-opt', 'a.yml', '--debug'])


def test_an_announced_plugin_loads_and_an_import_only_one_needs_import(plugins):
    names = {m.__name__ for m in load_plugins()}
    assert {'igan_basicsr', 'announced_plugin'} <= names and 'silent_plugin' not in names
    assert 'silent_plugin' in {m.__name__ for m in load_plugins(['silent_plugin'])}


@pytest.mark.parametrize('arch, extra', [('AnnouncedNet', []), ('SilentNet', ['--import', 'silent_plugin'])])
def test_infer_runs_a_plugin_network(plugins, tmp_path, call, arch, extra):
    opt = toy_options(tmp_path, arch, tmp_path / f'{arch}.pth')
    proc = call(infer, '-i', os.path.join(SET5, 'LR_bicubic', 'X4', 'birdx4.png'), '-o', str(tmp_path / 'out'),
                '-opt', opt, '--device', 'cpu', *extra)
    assert proc.returncode == 0, proc.stderr
    assert cv2.imread(str(tmp_path / 'out' / 'birdx4.png')).shape == (288, 288, 3)


def test_a_module_that_does_not_import_is_one_line(plugins, tmp_path, call):
    opt = toy_options(tmp_path, 'AnnouncedNet', tmp_path / 'a.pth')
    proc = call(cli, 'test', '-opt', opt, '--import', 'no_such_plugin')
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.strip() == ("basicsr test: error: --import no_such_plugin: cannot import it (No module named "
                                   "'no_such_plugin'); install the package that provides it, or put its folder on "
                                   'PYTHONPATH.')
    assert not (tmp_path / 'results').exists()


def test_basicsr_test_scores_an_import_only_plugin_and_refuses_it_without_import(plugins, tmp_path, call,
                                                                                monkeypatch):
    # A package of its own: the registry is per process, and no other test imports this one.
    monkeypatch.chdir(tmp_path)
    opt = toy_options(tmp_path, 'SilentScoredNet', tmp_path / 's.pth')
    with open(opt, 'a') as f:
        f.write(textwrap.dedent(f'''\
            datasets:
              test_1: {{name: Set5, type: PairedImageDataset, dataroot_gt: {SET5}/HR,
                       dataroot_lq: {SET5}/LR_bicubic/X4, filename_tmpl: '{{}}x4', io_backend: {{type: disk}}}}
            val:
              save_img: false
              metrics: {{psnr: {{type: calculate_psnr, crop_border: 4, test_y_channel: true}}}}
            '''))
    refused = call(cli, 'test', '-opt', opt)
    assert refused.returncode == 1 and "network_g.type: unknown type 'SilentScoredNet'" in refused.stderr
    # The console command, as a user runs it (a process of its own: the log file is its first logger's).
    proc = run_cli(['basicsr', 'test', '-opt', opt, '--import', 'silent_scored_plugin'], cwd=tmp_path)
    log = next((tmp_path / 'results' / 'SilentScoredNet').glob('test_SilentScoredNet_*.log')).read_text()
    assert re.search(r'Validation Set5\n\t # psnr: \d+\.\d+', log), proc.stderr
