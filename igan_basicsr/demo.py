"""The main job on embedded data: train a small IGAN x4 with `basicsr train` on scikit-image's photographs.

`python -m igan_basicsr.demo` writes a DIV2K-shaped folder under datasets/demo, trains, then prints the
validation PSNR of the trained network beside bicubic's on photographs it did not train on.
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
import yaml
from basicsr.metrics import calculate_psnr
from basicsr.utils import img2tensor, tensor2img

from . import archs  # noqa: F401  (registers IGAN)
from .data.bicubic import bicubic_pair, bicubic_upscale
from .released import extract_state_dict, load_checkpoint

OPTION_FILE = os.path.join('options', 'demo_IGAN_x4.yml')
# scikit-image's bundled photographs (no download); validation photos are never trained on.
TRAIN_PHOTOS = ('coffee', 'rocket', 'hubble_deep_field', 'immunohistochemistry', 'retina', 'camera', 'brick',
                'grass', 'gravel', 'moon', 'clock', 'coins')
VAL_PHOTOS = ('astronaut', 'chelsea')


def _photo(name):
    import skimage.data
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR)


def write_demo_data(root, scale):
    """DIV2K layout under root: DIV2K_train_HR/0001.png + LR X{scale}, and val/HR + val/LR_bicubic/X{scale}."""
    sets = {('DIV2K_train_HR', f'DIV2K_train_LR_bicubic/X{scale}'): TRAIN_PHOTOS,
            ('val/HR', f'val/LR_bicubic/X{scale}'): VAL_PHOTOS}
    for (hr_dir, lr_dir), photos in sets.items():
        os.makedirs(os.path.join(root, hr_dir), exist_ok=True)
        os.makedirs(os.path.join(root, lr_dir), exist_ok=True)
        for i, name in enumerate(photos, 1):
            stem = f'{i:04d}' if hr_dir.startswith('DIV2K') else name
            hr, lr = bicubic_pair(_photo(name), scale)
            cv2.imwrite(os.path.join(root, hr_dir, f'{stem}.png'), hr)
            cv2.imwrite(os.path.join(root, lr_dir, f'{stem}x{scale}.png'), lr)


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
        sr = tensor2img(net(img2tensor(lr / 255., bgr2rgb=True, float32=True)[None]))
        psnr = calculate_psnr(sr, hr, crop_border=scale, test_y_channel=True)
        bicubic = calculate_psnr(bicubic_upscale(lr, scale), hr, crop_border=scale, test_y_channel=True)
        rows.append((stem, psnr, bicubic))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-opt', default=OPTION_FILE, help=f'option file (default {OPTION_FILE})')
    args = parser.parse_args(argv)
    with open(args.opt) as f:
        opt = yaml.safe_load(f)
    root = os.path.dirname(opt['datasets']['train']['dataroot_gt'])
    start = time.time()
    write_demo_data(root, opt['scale'])
    print(f'demo data: {len(TRAIN_PHOTOS)} training and {len(VAL_PHOTOS)} validation photos under {root}',
          flush=True)
    subprocess.run([sys.executable, '-m', 'igan_basicsr.train', '-opt', args.opt], check=True)
    weights = os.path.join('experiments', opt['name'], 'models', 'net_g_latest.pth')
    rows = evaluate(opt, weights)
    print(f"\nValidation x{opt['scale']} (PSNR on Y, crop_border={opt['scale']}), {time.time() - start:.0f} s in all")
    print(f"{'image':<12}{'IGAN':>9}{'bicubic':>9}")
    for stem, psnr, bicubic in rows:
        print(f'{stem:<12}{psnr:9.2f}{bicubic:9.2f}')
    mean = np.mean([r[1] for r in rows]), np.mean([r[2] for r in rows])
    print(f"{'mean':<12}{mean[0]:9.2f}{mean[1]:9.2f}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
