"""ONNX export checked against PyTorch, and `basicsr infer --onnx` giving what `--weights` gives."""
import os
from typing import NamedTuple

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import FIXTURES, SET5

from igan_basicsr.infer import command as infer
from igan_basicsr.infer.engines import ONNX_BYTES_PER_PIXEL, ONNX_MIN_SIZE, ONNX_SCALE
from scripts.deployment import export_onnx

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

X4, X8 = (os.path.join(FIXTURES, f'official_x{s}_g2b2.pth') for s in (4, 8))
ERROR = r'max abs error (\S+) \(limit 0.0001\)'


class Ran(NamedTuple):
    code: int
    out: str
    err: str


def run(main, argv, capsys):
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return Ran(code, out, err)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """The released-format x4 and x8 fixtures exported once: {scale: (path, the script's stdout)}."""
    import contextlib
    import io
    folder = tmp_path_factory.mktemp('onnx')
    models = {}
    for scale, weights in ((4, X4), (8, X8)):
        path, stdout = folder / f'x{scale}.onnx', io.StringIO()
        with contextlib.redirect_stdout(stdout):
            assert export_onnx.main(['--weights', weights, '--out', str(path)]) == 0
        models[scale] = (path, stdout.getvalue())
    return models


@pytest.mark.parametrize('scale', [4, 8])
def test_export_is_checked_on_two_sizes(exported, scale):
    import re
    path, stdout = exported[scale]
    errors = [float(e) for e in re.findall(ERROR, stdout)]
    assert len(errors) == 2 and max(errors) < 1e-4
    assert 'input 1x3x40x32' in stdout and 'input 2x3x23x29' in stdout
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta[ONNX_SCALE] == str(scale) and meta[ONNX_MIN_SIZE] == ('6' if scale == 8 else '2')
    assert float(meta[ONNX_BYTES_PER_PIXEL]) > 0


def write_inputs(folder):
    """A crop of a Set5 image, a grey one, and a 16-bit one with alpha."""
    folder.mkdir()
    lr = cv2.imread(os.path.join(SET5, 'LR_bicubic', 'X4', 'birdx4.png'))[16:56, 20:60]
    cv2.imwrite(str(folder / 'bird.png'), lr)
    cv2.imwrite(str(folder / 'gray.png'), cv2.cvtColor(lr, cv2.COLOR_BGR2GRAY))
    alpha = np.tile(np.linspace(0, 65535, lr.shape[1]).astype(np.uint16), (lr.shape[0], 1))
    cv2.imwrite(str(folder / 'deep_alpha.png'), np.dstack([lr.astype(np.uint16) * 257, alpha]))
    return folder


@pytest.mark.parametrize('flags', [['--tile', '0'], ['--tile', '24', '--tile-pad', '4']], ids=['whole', 'tiles'])
def test_onnx_runs_the_same_pipeline_as_pytorch(exported, flags, tmp_path, capsys):
    inputs = write_inputs(tmp_path / 'in')
    for name, model in (('torch', ['--weights', X4]), ('onnx', ['--onnx', exported[4][0]])):
        ran = run(infer.main, ['-i', inputs, '-o', tmp_path / name] + model + flags, capsys)
        assert ran.code == 0, ran.err
    for image in sorted(os.listdir(inputs)):
        ours, theirs = (cv2.imread(str(tmp_path / d / image), cv2.IMREAD_UNCHANGED) for d in ('onnx', 'torch'))
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        levels = 65535 if ours.dtype == np.uint16 else 255
        assert np.abs(ours.astype(int) - theirs).max() <= 1e-4 * levels + 1, image
    assert cv2.imread(str(tmp_path / 'onnx' / 'gray.png'), cv2.IMREAD_UNCHANGED).shape == (160, 160)
    assert cv2.imread(str(tmp_path / 'onnx' / 'deep_alpha.png'), cv2.IMREAD_UNCHANGED).shape == (160, 160, 4)


def test_onnx_pads_images_below_the_recorded_minimum(exported, tmp_path, capsys):
    """x8's wavelet attention needs 6x6 LR pixels; the exported graph does not check, the metadata tells infer."""
    cv2.imwrite(str(tmp_path / 'tiny.png'), cv2.imread(os.path.join(SET5, 'LR_bicubic', 'X8', 'birdx8.png'))[:5, :7])
    ran = run(infer.main, ['-i', tmp_path / 'tiny.png', '-o', tmp_path / 'out', '--onnx', exported[8][0]], capsys)
    assert ran.code == 0, ran.err
    assert cv2.imread(str(tmp_path / 'out' / 'tiny.png')).shape == (40, 56, 3)


def test_an_option_files_network_is_exported(tmp_path, capsys):
    from basicsr.archs.edsr_arch import EDSR
    network = dict(num_in_ch=3, num_out_ch=3, num_feat=8, num_block=1, upscale=2)
    torch.save({'params': EDSR(**network).state_dict()}, tmp_path / 'edsr.pth')
    opt = {'model_type': 'SRModel', 'scale': 2, 'network_g': dict(type='EDSR', **network)}
    (tmp_path / 'edsr.yml').write_text(yaml.safe_dump(opt))
    ran = run(export_onnx.main, ['-opt', tmp_path / 'edsr.yml', '--weights', tmp_path / 'edsr.pth',
                                 '--out', tmp_path / 'edsr.onnx'], capsys)
    assert ran.code == 0, ran.err
    assert ran.out.strip().splitlines()[-1] == f'wrote {tmp_path / "edsr.onnx"}'


@pytest.mark.parametrize('argv, message', [
    (['--out', 'm.onnx'], 'give --weights W.pth or -opt FILE.yml'),
    (['--weights', 'nope.pth', '--out', 'm.onnx'], 'nope.pth: no such checkpoint file'),
])
def test_export_refuses_bad_arguments(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = run(export_onnx.main, argv, capsys)
    assert ran.code == 2 and message in ran.err
    assert os.listdir(tmp_path) == []


def test_infer_refuses_amp_with_onnx(exported, tmp_path, capsys):
    ran = run(infer.main, ['-i', SET5, '-o', tmp_path / 'out', '--onnx', exported[4][0], '--amp', 'bf16'], capsys)
    assert ran.code == 2 and '--amp does not apply to --onnx' in ran.err
