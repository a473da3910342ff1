"""`basicsr infer` on real images: formats, sizes, the released-format fixtures, tiles, option files, errors."""
import contextlib
import io
import os
import shutil
import struct
import zlib
from typing import NamedTuple

import cv2
import numpy as np
import pytest
import torch
import yaml
from conftest import FIXTURES, SET5, run_cli
from PIL import Image, ImageOps

from igan_basicsr.archs.igan_arch import IGAN
from igan_basicsr.archs.igan_checkpoint import convert_released
from igan_basicsr.checkpoints import load_checkpoint
from igan_basicsr.infer import command as infer
from igan_basicsr.infer import image_io
from igan_basicsr.infer.engines import from_weights
from igan_basicsr.infer.image_io import read_picture
from igan_basicsr.infer.upscaler import Switches, Upscaler

TOLERANCE = 1e-4  # the spec's bound on |ours - reference|, as in tests/archs/test_igan_checkpoint.py
X4, X8 = (os.path.join(FIXTURES, f'official_x{s}_g2b2.pth') for s in (4, 8))
CPU = torch.device('cpu')


class Ran(NamedTuple):
    code: int
    out: str
    err: str


def run(argv, capsys):
    """infer.main(argv) in this process: its exit status and what it printed."""
    capsys.readouterr()
    try:
        code = infer.main([str(a) for a in argv])
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def photo(name, top, left, height, width):
    """RGB crop of a scikit-image photograph (grey ones stay 2-D)."""
    import skimage.data
    return getattr(skimage.data, name)()[top:top + height, left:left + width]


def write(path, rgb_or_gray):
    img = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(rgb_or_gray, cv2.COLOR_RGB2BGR if
                                                                  rgb_or_gray.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    assert cv2.imwrite(str(path), img)


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """One folder of the images people have, and two plain copies to compare with."""
    folder = tmp_path_factory.mktemp('photos')
    gray = photo('camera', 200, 200, 40, 48)
    write(folder / 'gray.png', gray)
    write(folder / 'gray_rgb.png', np.repeat(gray[..., None], 3, axis=2))
    rgb = photo('astronaut', 100, 180, 36, 44)
    alpha = np.tile(np.linspace(0, 255, 44).round().astype(np.uint8), (36, 1))
    write(folder / 'rgba.png', np.dstack([rgb, alpha]))
    write(folder / 'rgba_flat.png', rgb)
    noise = np.random.default_rng(0).integers(0, 257, (32, 40, 3))
    deep = photo('chelsea', 50, 100, 32, 40)[..., ::-1].astype(np.int64) * 257 + noise
    assert cv2.imwrite(str(folder / 'deep.png'), deep.clip(0, 65535).astype(np.uint16))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 30x50, shown rotated 90 degrees clockwise: 50 high, 30 wide
    Image.fromarray(photo('coffee', 100, 100, 30, 50)).save(folder / 'rotated.jpg', exif=exif, quality=95)
    Image.fromarray(photo('rocket', 100, 200, 24, 32)).save(folder / 'paint.bmp')
    Image.fromarray(photo('rocket', 150, 250, 24, 32)).save(folder / 'web.webp', lossless=True)
    (folder / 'notes.txt').write_text('shopping list\n')
    (folder / 'broken.png').write_bytes((folder / 'gray.png').read_bytes()[:120])
    (folder / 'huge.png').write_bytes(claimed_size((folder / 'paint.bmp'), 60000, 60000))
    return folder


def claimed_size(image, width, height):
    """The PNG of `image` with a header that claims width x height pixels (its CRC made to match)."""
    ok, buf = cv2.imencode('.png', cv2.imread(str(image)))
    data = bytearray(buf.tobytes())
    data[16:24] = struct.pack('>II', width, height)  # IHDR: length, 'IHDR', then width and height
    data[29:33] = struct.pack('>I', zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.fixture(scope='module')
def photo_run(photos, tmp_path_factory):
    """The folder through `basicsr infer --weights` (released x4 fixture) once, shared by the checks below."""
    out = tmp_path_factory.mktemp('out') / 'up'
    # capsys is per test: a module's run captures its output itself.
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = infer.main(['-i', str(photos), '-o', str(out), '--weights', X4])
        except SystemExit as exit:
            code = exit.code
    return out, Ran(code, stdout.getvalue(), stderr.getvalue())


def read(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def set5_crops(folder, scale, size, names=('baby', 'bird')):
    """size x size crops of Set5 LR images, written to `folder`: real pictures, at little cost per test."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name in names:
        lr = cv2.imread(os.path.join(SET5, 'LR_bicubic', f'X{scale}', f'{name}x{scale}.png'))
        paths.append(os.path.join(folder, f'{name}.png'))
        assert cv2.imwrite(paths[-1], lr[8:8 + size, 8:8 + size])
    return paths


def test_a_folder_of_mixed_images_is_upscaled_and_the_rest_reported(photo_run):
    out, ran = photo_run
    assert ran.code == 1
    assert sorted(os.listdir(out)) == sorted(f'{s}.png' for s in ('gray', 'gray_rgb', 'rgba', 'rgba_flat', 'deep',
                                                                  'rotated', 'paint', 'web'))
    lines = ran.out.strip().splitlines()
    assert lines[-2].startswith('8 written (') and lines[-2].endswith(
        ', 3 skipped: broken.png (damaged or unsupported image), huge.png (3600 megapixels, above the limit of '
        '179 megapixels of the image decoders), notes.txt (not an image) (of 11 inputs)')
    assert lines[-1] == f'Outputs: {os.path.join(str(out), "")}'
    assert 'skipped notes.txt: not an image' in ran.err and 'Traceback' not in ran.err


def test_an_image_beyond_a_lower_decoder_limit_is_named_with_its_size(tmp_path, capsys, monkeypatch):
    # CV_IO_MAX_IMAGE_PIXELS set lower than PIL's limit: PIL reads the header, the size is said as it is.
    monkeypatch.setattr(image_io, 'MAX_PIXELS', 40_000)
    (tmp_path / 'wide.png').write_bytes(claimed_size(os.path.join(SET5, 'HR', 'bird.png'), 400, 101))
    ran = run(['-i', tmp_path / 'wide.png', '-o', tmp_path / 'out', '--weights', X4], capsys)
    assert ran.code == 1 and 'skipped wide.png: 400x101 = 0.0404 megapixels, above the limit of 0.04 megapixels ' \
        'of the image decoders' in ran.err


def test_grey_stays_one_channel_without_tint(photo_run):
    out, _ = photo_run
    gray, rgb = read(out / 'gray.png'), read(out / 'gray_rgb.png')
    assert gray.shape == (160, 192) and gray.dtype == np.uint8
    # The grey output is the mean of what the network made of the replicated grey.
    assert np.abs(gray.astype(int) - rgb.mean(axis=2)).max() <= 1


def test_alpha_is_upscaled_apart_with_bicubic(photo_run, photos):
    out, _ = photo_run
    rgba, flat = read(out / 'rgba.png'), read(out / 'rgba_flat.png')
    assert rgba.shape == (144, 176, 4) and flat.shape == (144, 176, 3)
    assert np.array_equal(rgba[..., :3], flat)
    alpha = read(photos / 'rgba.png')[..., 3].astype(np.float32) / 255
    want = np.clip(cv2.resize(alpha, (176, 144), interpolation=cv2.INTER_CUBIC), 0, 1) * 255
    assert np.abs(rgba[..., 3] - want).max() <= 0.5 + 1e-3


def test_sixteen_bit_in_sixteen_bit_out(photo_run):
    deep = read(photo_run[0] / 'deep.png')
    assert deep.shape == (128, 160, 3) and deep.dtype == np.uint16
    assert (deep % 257 != 0).mean() > 0.5  # real 16-bit values, not 8-bit ones scaled


def test_jpeg_is_upscaled_upright(photo_run, photos):
    assert read(photo_run[0] / 'rotated.png').shape == (200, 120, 3)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(photos / 'rotated.jpg'))).astype(np.float32)
    ours = read_picture(str(photos / 'rotated.jpg')).color * 255
    assert ours.shape == upright.shape == (50, 30, 3)
    assert np.abs(ours - upright).mean() < 1  # two JPEG decoders, the same orientation


def test_bmp_and_webp(photo_run):
    assert read(photo_run[0] / 'paint.png').shape == read(photo_run[0] / 'web.png').shape == (96, 128, 3)


def test_images_smaller_than_the_network_input(tmp_path, capsys):
    """The x8 wavelet attention needs 6x6 LR pixels: smaller images are padded and the output cropped."""
    write(tmp_path / 'tiny.png', photo('astronaut', 200, 200, 5, 7))
    write(tmp_path / 'dot.png', photo('astronaut', 200, 200, 1, 1))
    ran = run(['-i', tmp_path / 'tiny.png', tmp_path / 'dot.png', '-o', tmp_path / 'out', '--weights', X8], capsys)
    assert ran.code == 0, ran.err
    assert read(tmp_path / 'out' / 'tiny.png').shape == (40, 56, 3)
    assert read(tmp_path / 'out' / 'dot.png').shape == (8, 8, 3)


@pytest.mark.parametrize('scale', [4, 8])
def test_weights_alone_give_the_reference_network(scale):
    io = torch.load(os.path.join(FIXTURES, f'official_x{scale}_g2b2_io.pt'), weights_only=True)
    engine = from_weights(os.path.join(FIXTURES, f'official_x{scale}_g2b2.pth'), CPU)
    assert engine.scale == scale
    with torch.no_grad():
        assert (engine.forward(io['lq']) - io['sr']).abs().max() < TOLERANCE


def test_a_sixteen_bit_file_gives_the_reference_output(tmp_path, capsys):
    """The whole path: a 16-bit PNG of the reference input in, a 16-bit PNG out, equal to the reference output
    clipped to [0, 1] (16-bit quantisation of the input moves the output by 5e-5)."""
    io = torch.load(os.path.join(FIXTURES, 'official_x4_g2b2_io.pt'), weights_only=True)
    lq = io['lq'][0].permute(1, 2, 0).numpy()[..., ::-1]
    assert cv2.imwrite(str(tmp_path / 'lq.png'), np.rint(lq * 65535).astype(np.uint16))
    ran = run(['-i', tmp_path / 'lq.png', '-o', tmp_path / 'out', '--weights', X4], capsys)
    assert ran.code == 0, ran.err
    sr = read(tmp_path / 'out' / 'lq.png')[..., ::-1].astype(np.float64) / 65535
    want = io['sr'][0].clamp(0, 1).permute(1, 2, 0).numpy()
    assert np.abs(sr - want).max() < TOLERANCE


def test_a_basicsr_checkpoint_is_read_with_its_ema_weights(tmp_path):
    converted, options = convert_released(load_checkpoint(X4), X4)
    plain = {k: v * 0.5 for k, v in converted.items()}
    torch.save({'params': plain, 'params_ema': converted}, tmp_path / 'net_g.pth')
    engine = from_weights(str(tmp_path / 'net_g.pth'), CPU, scale=4)
    io = torch.load(os.path.join(FIXTURES, 'official_x4_g2b2_io.pt'), weights_only=True)
    with torch.no_grad():
        assert (engine.forward(io['lq']) - io['sr']).abs().max() < TOLERANCE
    assert 'cagm=pool' in engine.description and 'num_group=2' in engine.description


@pytest.fixture(scope='module')
def local_net(tmp_path_factory):
    """An IGAN without attention (nothing pools over the whole input), in our layout."""
    torch.manual_seed(0)
    net = IGAN(upscale=4, num_feat=16, num_group=2, num_block=1, attention='none')
    path = tmp_path_factory.mktemp('local') / 'local.pth'
    torch.save({'params': net.state_dict()}, path)
    return str(path)


def test_tiles_give_the_whole_image_result_when_nothing_pools_globally(local_net, tmp_path, capsys):
    """The documented tolerance: one grey level, for a network whose receptive field (8 LR pixels) --tile-pad
    covers."""
    bird, = set5_crops(tmp_path, 4, 48, names=('bird', ))
    outputs = {}
    for name, flags in (('whole', ['--tile', '0']), ('tiles', ['--tile', '24', '--tile-pad', '10']),
                        ('auto', ['--tile-pad', '10', '--memory-budget', '0.006'])):
        ran = run(['-i', bird, '-o', tmp_path / name, '--weights', local_net] + flags, capsys)
        assert ran.code == 0, ran.err
        outputs[name] = read(tmp_path / name / 'bird.png').astype(int)
    assert outputs['whole'].shape == (192, 192, 3)
    assert np.abs(outputs['tiles'] - outputs['whole']).max() <= 1
    assert np.abs(outputs['auto'] - outputs['whole']).max() <= 1


def test_auto_tiles_follow_the_memory_budget(local_net):
    engine = from_weights(local_net, CPU)
    # 0.006 GB: the --memory-budget of the test above, which therefore ran in tiles.
    roomy, tight = (Upscaler(engine, Switches(tile_pad=10, budget=int(gb * 2**30))) for gb in (1, 0.006))
    assert roomy.tile_for(48, 48) is None
    assert 16 <= tight.tile_for(48, 48) < 48


def test_an_option_file_runs_any_registered_network(tmp_path, capsys):
    """basicsr's own EDSR through its option file's network_g and model_type."""
    from basicsr.archs.edsr_arch import EDSR
    network = dict(num_in_ch=3, num_out_ch=3, num_feat=16, num_block=2, upscale=4)
    torch.manual_seed(0)
    net = EDSR(**network).eval()
    torch.save({'params': net.state_dict()}, tmp_path / 'edsr.pth')
    opt = {'name': 'edsr', 'model_type': 'SRModel', 'scale': 4, 'num_gpu': 0,
           'network_g': dict(type='EDSR', **network), 'path': {'pretrain_network_g': str(tmp_path / 'edsr.pth')}}
    (tmp_path / 'edsr.yml').write_text(yaml.safe_dump(opt))
    head = os.path.join(SET5, 'LR_bicubic', 'X4', 'headx4.png')
    ran = run(['-i', head, '-o', tmp_path / 'out', '-opt', tmp_path / 'edsr.yml', '--suffix', 'edsr'], capsys)
    assert ran.code == 0, ran.err
    lr = cv2.imread(head)[..., ::-1].astype(np.float32) / 255
    with torch.no_grad():
        want = net(torch.from_numpy(lr.copy()).permute(2, 0, 1)[None]).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    got = read(tmp_path / 'out' / 'headx4_edsr.png')[..., ::-1] / 255
    assert np.abs(got - want).max() <= 0.5 / 255 + 1e-4


def test_existing_outputs_are_kept_with_skip_existing(tmp_path, capsys):
    inputs = set5_crops(tmp_path / 'in', 4, 24)
    assert run(['-i', *inputs, '-o', tmp_path / 'out', '--weights', X4], capsys).code == 0
    before = os.stat(tmp_path / 'out' / 'baby.png').st_mtime_ns
    ran = run(['-i', *inputs, '-o', tmp_path / 'out', '--weights', X4, '--skip-existing'], capsys)
    assert ran.code == 0
    assert ran.out.strip().splitlines()[-2] == '0 written, 2 already there (--skip-existing) (of 2 inputs)'
    assert os.stat(tmp_path / 'out' / 'baby.png').st_mtime_ns == before


@pytest.mark.parametrize('args, message', [
    (['--weights', X4, '-i', 'nowhere/*.png'], '-i nowhere/*.png: no file matches'),
    (['--weights', X4, '-i', 'missing.png'], '-i missing.png: no such file or folder'),
    (['-i', '{set5}'], 'give a model'),
    (['--weights', 'nope.pth', '-i', '{set5}'], '--weights nope.pth: no such file'),
    (['--weights', X8, '--scale', '4', '-i', '{set5}'], 'this is an x8 checkpoint, but --scale 4'),
    (['--weights', X4, '--tile', '8', '-i', '{set5}'], 'below 16 LR pixels'),
    (['--weights', '{edsr}', '-i', '{set5}'], 'not an IGAN checkpoint'),
    (['--weights', X4, '-i', '{lr}', '--ext', 'same', '-o', '{lr_folder}'], 'would overwrite the input'),
])
def test_bad_arguments_stop_before_any_work(args, message, tmp_path, capsys):
    from basicsr.archs.edsr_arch import EDSR
    torch.save({'params': EDSR(3, 3, num_feat=8, num_block=1).state_dict()}, tmp_path / 'edsr.pth')
    shutil.copy(os.path.join(SET5, 'LR_bicubic', 'X4', 'babyx4.png'), tmp_path / 'lr.png')
    names = dict(set5=os.path.join(SET5, 'LR_bicubic', 'X4'), edsr=tmp_path / 'edsr.pth', lr=tmp_path / 'lr.png',
                 lr_folder=tmp_path)
    args = [str(a).format(**names) for a in args]
    if '-o' not in args:
        args += ['-o', str(tmp_path / 'out')]
    before = sorted(os.listdir(tmp_path))
    ran = run(args, capsys)
    assert ran.code == 2
    assert message in ran.err and 'Traceback' not in ran.err
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU refusal of fp16')
def test_fp16_on_cpu_is_refused(tmp_path, capsys):
    ran = run(['-i', SET5, '-o', tmp_path / 'out', '--weights', X4, '--amp', 'fp16', '--device', 'cpu'], capsys)
    assert ran.code == 2 and 'on CPU use --amp bf16' in ran.err


@pytest.mark.skipif(not torch.cuda.is_available(), reason='fp16 needs a CUDA GPU')
def test_fp16_overflow_is_recomputed_in_float32(tmp_path, capsys):
    """Weights that overflow fp16's range (65504) in the first convolution: the 'black image' reports."""
    converted, _ = convert_released(load_checkpoint(X4), X4)
    converted['conv_first.weight'] = converted['conv_first.weight'] * 1000
    converted['conv_last.weight'] = converted['conv_last.weight'] / 1000
    torch.save({'params': converted}, tmp_path / 'loud.pth')
    baby = os.path.join(SET5, 'LR_bicubic', 'X8', 'babyx8.png')
    common = ['-i', baby, '--weights', tmp_path / 'loud.pth', '--device', 'cuda']
    ran = run(common + ['-o', tmp_path / 'fp16', '--amp', 'fp16'], capsys)
    assert ran.code == 0, ran.err
    assert 'warning: babyx8.png: 1 of 1 network passes' in ran.err and 'recomputed in float32' in ran.err
    assert run(common + ['-o', tmp_path / 'fp32'], capsys).code == 0
    fp16, fp32 = (read(tmp_path / d / 'babyx8.png').astype(int) for d in ('fp16', 'fp32'))
    assert np.abs(fp16 - fp32).max() <= 1


def test_the_console_command(tmp_path, repo):
    head, = set5_crops(tmp_path, 4, 24, names=('head', ))
    proc = run_cli(['basicsr', 'infer', '-i', head, '-o', str(tmp_path / 'up'), '--weights', X4], cwd=repo)
    assert proc.stdout.strip().splitlines()[-1] == f'Outputs: {os.path.join(str(tmp_path / "up"), "")}'
    assert read(tmp_path / 'up' / 'head.png').shape == (96, 96, 3)


@pytest.mark.parametrize('scale', [4, 8])
def test_lr_only_option_files(scale, tmp_path, repo):
    """options/test_IGAN_x{4,8}_LR.yml pass the option checks and run basicsr's test step on LR images alone."""
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.models import build_model

    from igan_basicsr.options import check_options, read_option_file
    opt = read_option_file(os.path.join(repo, 'options', f'test_IGAN_x{scale}_LR.yml'))
    dataset = opt['datasets']['test_1']
    assert dataset['type'] == 'SingleImageDataset' and 'dataroot_gt' not in dataset
    assert 'metrics' not in opt['val']
    dataset['dataroot_lq'] = str(tmp_path / 'lr')
    set5_crops(tmp_path / 'lr', scale, 24)
    opt['network_g'].update(num_group=2, num_block=2)
    opt['path']['pretrain_network_g'] = os.path.join(FIXTURES, f'official_x{scale}_g2b2.pth')
    assert check_options(opt, is_train=False).errors == []
    opt.update(num_gpu=0, is_train=False, dist=False)
    opt['path']['visualization'] = str(tmp_path / 'out')
    dataset.update(phase='test', scale=scale)
    loader = build_dataloader(build_dataset(dataset), dataset, num_gpu=0, dist=False, sampler=None)
    build_model(opt).validation(loader, current_iter=opt['name'], tb_logger=None, save_img=True)
    written = sorted(os.listdir(tmp_path / 'out' / dataset['name']))
    assert written == [f'{n}_{opt["name"]}.png' for n in ('baby', 'bird')]


def test_basicsr_test_of_the_lr_only_file_writes_the_images_and_says_where(tmp_path, repo):
    """options/test_IGAN_x4_LR.yml (SingleImageDataset, no ground truth) with the released-format fixture."""
    opt = yaml.safe_load(open(os.path.join(repo, 'options', 'test_IGAN_x4_LR.yml')))
    opt.update(num_gpu=0, name='lr_only')
    opt['datasets']['test_1']['dataroot_lq'] = os.path.join(SET5, 'LR_bicubic', 'X4')
    opt['network_g'].update(num_group=2, num_block=2)
    opt['path'] = {'pretrain_network_g': os.path.join(FIXTURES, 'official_x4_g2b2.pth'), 'strict_load_g': True}
    (tmp_path / 'lr.yml').write_text(yaml.safe_dump(opt))
    proc = run_cli(['basicsr', 'test', '-opt', 'lr.yml'], cwd=tmp_path)
    folder = tmp_path / 'results' / 'lr_only' / 'visualization' / 'my_lr_images'
    assert f'Images of my_lr_images written to {folder}/' in proc.stdout + proc.stderr
    written = sorted(p.name for p in folder.iterdir())
    assert written == sorted(f'{n}x4_lr_only.png' for n in ('baby', 'bird', 'butterfly', 'head', 'woman'))
    assert cv2.imread(str(folder / 'birdx4_lr_only.png')).shape == (288, 288, 3)


def test_help_lists_every_option(call):
    proc = call(infer, '-h')
    assert proc.returncode == 0, proc.stderr
    text = ' '.join(proc.stdout.split())
    for option in ('--weights', '-opt', '--onnx', '--import MODULE', '--tile', '--memory-budget GB', '--amp',
                   '--self-ensemble', '--suffix', '--ext', '--device', '--skip-existing'):
        assert option in text
    assert '(default: 50% of the available RAM, 80% of the free GPU memory)' in text
