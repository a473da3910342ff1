"""The main job on embedded data: train a small IGAN x4 with `basicsr train` on scikit-image's photographs.

`python -m igan_basicsr.demo` writes the photographs as a DIV2K-shaped folder of HR images under datasets/demo,
builds the training LMDBs and the validation set from them with the same code as
scripts/data_preparation/prepare_div2k_lmdb.py and scripts/data_preparation/prepare_benchmark.py, trains from
the LMDBs, then prints the
validation PSNR of the trained network beside bicubic's on photographs it did not train on, and writes a picture
of crops side by side (bicubic | IGAN | original) of one of them, upscaled as `basicsr infer` does.
"""
import argparse
import glob
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import torch
from basicsr.metrics import calculate_psnr
from basicsr.utils import img2tensor, tensor2img

from .checkpoints import extract_state_dict, load_checkpoint
from .infer.engines import from_weights
from .infer.image_io import read_picture
from .infer.upscaler import Switches, Upscaler
from .options import OptionError, read_option_file
from .prepare.benchmark_sets import prepare_benchmark
from .prepare.bicubic import bicubic_upscale
from .prepare.div2k_lmdb import HR_FOLDER, prepare_div2k_lmdb
from .prepare.images import write_png
from .prepare.photos import photo
from .prepare.subimages import Grid

OPTION_FILE = os.path.join('options', 'demo_IGAN_x4.yml')
# scikit-image's bundled photographs (no download); validation photos are never trained on.
TRAIN_PHOTOS = ('coffee', 'rocket', 'hubble_deep_field', 'immunohistochemistry', 'retina', 'camera', 'brick',
                'grass', 'gravel', 'moon', 'clock', 'coins')
VAL_PHOTOS = ('astronaut', 'chelsea')
VAL_FOLDER = 'DIV2K_valid_HR'
# The photographs are 300 to 1411 pixels a side, too small for DIV2K's 480-pixel sub-images.
GRID = Grid(crop=240, step=120)
# The picture: CROP x CROP HR pixels of the held-out photograph, each shown ZOOM times larger (nearest neighbour,
# so the pixels the methods made are the pixels seen), under a LABEL_HEIGHT band naming the method.
PICTURE = os.path.join('results', 'demo', '{name}_x{scale}_bicubic_IGAN_original.png')
CROP, ZOOM, GAP, LABEL_HEIGHT = 96, 3, 8, 36


def write_demo_data(opt):
    """HR photographs only, as DIV2K ships them: DIV2K_train_HR/0001.png ... and DIV2K_valid_HR/{name}.png.
    Then the prepare steps make the training LMDBs and the validation set the option file reads."""
    train, val, scale = opt['datasets']['train'], opt['datasets']['val'], opt['scale']
    root = os.path.dirname(train['dataroot_gt'])
    photos = {HR_FOLDER: {f'{i:04d}': name for i, name in enumerate(TRAIN_PHOTOS, 1)},
              VAL_FOLDER: {name: name for name in VAL_PHOTOS}}
    for folder, named in photos.items():
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        for stem, name in named.items():
            write_png(os.path.join(root, folder, f'{stem}.png'), photo(name))
    prepare_div2k_lmdb(root, (scale,), grid=GRID, overwrite=True)
    val_set = os.path.dirname(val['dataroot_gt'])
    prepare_benchmark(os.path.join(root, VAL_FOLDER), val_set, (scale,), overwrite=True)


@torch.no_grad()
def evaluate(opt, weights):
    """Mean validation PSNR (Y, crop_border = scale) of the trained network and of bicubic."""
    from basicsr.archs import build_network
    scale, val = opt['scale'], opt['datasets']['val']
    net = build_network(opt['network_g']).eval()
    net.load_state_dict(extract_state_dict(load_checkpoint(weights), weights), strict=True)
    rows = []
    for hr_path in sorted(glob.glob(os.path.join(val['dataroot_gt'], '*.png'))):
        stem = os.path.splitext(os.path.basename(hr_path))[0]
        hr = cv2.imread(hr_path)
        lr = cv2.imread(os.path.join(val['dataroot_lq'], val['filename_tmpl'].format(stem) + '.png'))
        # The HR images are kept whole; compare the region the LR was made from, as PairedImageDataset does.
        hr = hr[:lr.shape[0] * scale, :lr.shape[1] * scale]
        sr = tensor2img(net(img2tensor(lr / 255., bgr2rgb=True, float32=True)[None]))
        psnr = calculate_psnr(sr, hr, crop_border=scale, test_y_channel=True)
        bicubic = calculate_psnr(bicubic_upscale(lr, scale), hr, crop_border=scale, test_y_channel=True)
        rows.append((stem, psnr, bicubic))
    return rows


def most_detailed_window(hr, size):
    """(top, left) of the size x size window of `hr` with the most edges: where upscalers differ most."""
    gray = cv2.cvtColor(hr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    edges = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    energy = cv2.boxFilter(edges, -1, (size, size), normalize=False, anchor=(0, 0))[:-size + 1, :-size + 1]
    top, left = np.unravel_index(np.argmax(energy), energy.shape)
    return int(top), int(left)


def panel(img, label):
    """`img` enlarged ZOOM times under a white band with `label`."""
    img = cv2.resize(img, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
    band = np.full((LABEL_HEIGHT, img.shape[1], 3), 255, np.uint8)
    cv2.putText(band, label, (8, LABEL_HEIGHT - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
    return np.concatenate([band, img], axis=0)


def write_picture(opt, weights, name=VAL_PHOTOS[0]):
    """Crops of bicubic, IGAN and the original side by side for the held-out photograph `name`; returns the path."""
    scale, val = opt['scale'], opt['datasets']['val']
    lr_path = os.path.join(val['dataroot_lq'], val['filename_tmpl'].format(name) + '.png')
    lr = cv2.imread(lr_path)
    hr = cv2.imread(os.path.join(val['dataroot_gt'], f'{name}.png'))[:lr.shape[0] * scale, :lr.shape[1] * scale]
    upscaled = Upscaler(from_weights(weights, torch.device('cpu')), Switches())(read_picture(lr_path)).picture
    sr = cv2.cvtColor(np.rint(upscaled.color * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    top, left = most_detailed_window(hr, CROP)
    crops = [(bicubic_upscale(lr, scale), 'bicubic'), (sr, 'IGAN'), (hr, 'original')]
    panels = [panel(img[top:top + CROP, left:left + CROP], label) for img, label in crops]
    gap = np.full((panels[0].shape[0], GAP, 3), 255, np.uint8)
    path = PICTURE.format(name=name, scale=scale)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_png(path, np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1))
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-opt', default=OPTION_FILE, help=f'option file (default {OPTION_FILE})')
    args = parser.parse_args(argv)
    try:
        opt = read_option_file(args.opt)
    except OptionError as err:
        parser.exit(2, f'{parser.prog}: error: {err}\n')
    start = time.time()
    write_demo_data(opt)
    print(f'demo data: {len(TRAIN_PHOTOS)} training and {len(VAL_PHOTOS)} validation photos, '
          f'{time.time() - start:.0f} s', flush=True)
    training = subprocess.run([sys.executable, '-m', 'igan_basicsr.train', '-opt', args.opt])
    if training.returncode != 0:
        parser.exit(1, f"{parser.prog}: error: training failed (exit {training.returncode}): its output is above, "
                    f"its log under experiments/{opt['name']}/.\n")
    weights = os.path.join('experiments', opt['name'], 'models', 'net_g_latest.pth')
    rows = evaluate(opt, weights)
    print(f"\nValidation x{opt['scale']} (PSNR on Y, crop_border={opt['scale']}), {time.time() - start:.0f} s in all")
    print(f"{'image':<12}{'IGAN':>9}{'bicubic':>9}")
    for stem, psnr, bicubic in rows:
        print(f'{stem:<12}{psnr:9.2f}{bicubic:9.2f}')
    mean = np.mean([r[1] for r in rows]), np.mean([r[2] for r in rows])
    print(f"{'mean':<12}{mean[0]:9.2f}{mean[1]:9.2f}")
    print(f'\nBicubic | IGAN | original, crops of the held-out {VAL_PHOTOS[0]}: {write_picture(opt, weights)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
