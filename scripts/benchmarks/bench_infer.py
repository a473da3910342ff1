"""Speed of `basicsr infer` on this machine: output megapixels per second, whole image and tiled, PyTorch and
onnxruntime, in one run.

    python -m scripts.benchmarks.bench_infer
    python -m scripts.benchmarks.bench_infer --size 96x96 --tile 48 --tile-pad 8 --num-group 20 --num-block 10

The network is IGAN at the given size with random weights (the speed does not depend on the values), saved as a
checkpoint and exported to ONNX in a temporary folder; the input is a crop of a scikit-image photograph. Each of
the four variants runs the same Upscaler `basicsr infer` uses: one untimed warm-up on a small image, then one timed
run. CPU only: the onnxruntime package installed by the onnx extra has no GPU provider.
"""
import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import torch

from igan_basicsr.archs.igan_arch import IGAN
from igan_basicsr.comparison.measure import device_name, parse_size
from igan_basicsr.infer.engines import from_onnx, from_weights
from igan_basicsr.infer.image_io import Picture
from igan_basicsr.infer.onnx_export import export_onnx, photo_batch
from igan_basicsr.infer.upscaler import NEVER, Switches, Upscaler

WARM_UP = 24  # LR pixels a side of the untimed first run (one-off allocations, ONNX graph optimisation)


@dataclass
class Row:
    engine: str
    inference: str
    seconds: float
    megapixels: float  # of output

    @property
    def rate(self):
        return self.megapixels / self.seconds


def picture(width, height):
    color = photo_batch(1, height, width)[0].permute(1, 2, 0).contiguous().numpy()
    return Picture(color, None, 8)


def timed(upscaler, size):
    upscaler(picture(WARM_UP, WARM_UP))
    start = time.perf_counter()
    out = upscaler(picture(*size)).picture
    return time.perf_counter() - start, out.size[0] * out.size[1] / 1e6


def engines(args, folder):
    """(name, engine) for PyTorch (a saved random IGAN read back as `basicsr infer --weights` reads it) and ONNX."""
    torch.manual_seed(0)
    net = IGAN(upscale=args.scale, num_feat=args.num_feat, num_group=args.num_group, num_block=args.num_block)
    weights = os.path.join(folder, 'igan.pth')
    torch.save({'params': net.state_dict()}, weights)
    cpu = torch.device('cpu')
    pytorch = from_weights(weights, cpu)
    onnx_path = os.path.join(folder, 'igan.onnx')
    print('exporting to ONNX and checking it ...', flush=True)
    export_onnx(pytorch, onnx_path)
    return (('PyTorch', pytorch), ('onnxruntime', from_onnx(onnx_path, cpu)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--size', type=parse_size, default=(96, 96), help='LR WIDTHxHEIGHT (default 96x96)')
    parser.add_argument('--tile', type=int, default=48, help='LR pixels per tile side (default 48)')
    parser.add_argument('--tile-pad', type=int, default=8, help='LR context around each tile (default 8)')
    parser.add_argument('--scale', type=int, default=4, help='default 4')
    parser.add_argument('--num-feat', type=int, default=64, help='default 64 (the paper)')
    parser.add_argument('--num-group', type=int, default=20, help='default 20 (the paper)')
    parser.add_argument('--num-block', type=int, default=10, help='default 10 (the paper)')
    args = parser.parse_args(argv)
    print(f'{device_name("cpu")}; IGAN x{args.scale} {args.num_group}x{args.num_block}, {args.num_feat} features; '
          f'LR {args.size[0]}x{args.size[1]}', flush=True)
    variants = (('whole image', Switches(tile=NEVER)),
                (f'tiles {args.tile}+{args.tile_pad}', Switches(tile=args.tile, tile_pad=args.tile_pad)))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, engine in engines(args, folder):
            for label, switches in variants:
                rows.append(Row(name, label, *timed(Upscaler(engine, switches), args.size)))
                print(f'{name:<12} {label:<16} {rows[-1].seconds:8.2f} s {rows[-1].rate:8.4f} MP/s', flush=True)
    rate = {(r.engine, r.inference): r.rate for r in rows}
    whole, tiled = (label for label, _ in variants)
    for label in (whole, tiled):
        print(f"{label}: onnxruntime / PyTorch = {rate['onnxruntime', label] / rate['PyTorch', label]:.2f}x")
    for engine in ('PyTorch', 'onnxruntime'):
        print(f'{engine}: {tiled} / {whole} = {rate[engine, tiled] / rate[engine, whole]:.2f}x')
    return 0 if np.isfinite([r.rate for r in rows]).all() else 1


if __name__ == '__main__':
    sys.exit(main())
