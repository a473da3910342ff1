"""Inference speed: `basicsr infer`'s output megapixels per second, whole image and tiled, PyTorch and onnxruntime
(engines), and tiled against whole-image inference for one model: peak memory, time, PSNR/SSIM (tiling).

    python -m scripts.benchmarks.inference engines      # paper-size IGAN x4, LR 96x96, tiles 48+8
    python -m scripts.benchmarks.inference engines --size 96x96 --tile 48 --tile-pad 8 --num-group 20 --num-block 10
    python -m scripts.benchmarks.inference tiling options/test_IGAN_x4.yml --tile 128 --tile-pad 16 --size 510x339 \\
        --no-weights

engines: IGAN at the given size with random weights (the speed does not depend on the values), saved as a
checkpoint and exported to ONNX in a temporary folder; the input is a crop of a scikit-image photograph. Each of
the four variants runs the same Upscaler `basicsr infer` uses: one untimed warm-up on a small image, then one timed
run. CPU only: the onnxruntime package installed by the onnx extra has no GPU provider.

tiling: the default size, 510x339, is the LR input of a 2040x1356 x4 output (a DIV2K photograph). IGAN's CAGM pools
over its whole input, so a tile sees less context than the image: the PSNR columns show what that costs; with
--benchmark, a Bicubic row (MATLAB bicubic upscaling of the same LR images) shows what either gains over it.
Each variant runs in its own fresh process (memory = ru_maxrss there, or torch.cuda.max_memory_allocated).
"""
import os
import sys
import tempfile
import time
from typing import NamedTuple

import numpy as np
import torch

from igan_basicsr.archs.igan_arch import IGAN
from igan_basicsr.comparison.measure import (
    BICUBIC,
    PROTOCOL,
    add_weight_arguments,
    benchmark_dataset,
    bicubic_option_file,
    checkpoint_of,
    device_name,
    measure,
    parse_size,
    precision_note,
)
from igan_basicsr.comparison.report import write_table
from igan_basicsr.infer.engines import from_onnx, from_weights
from igan_basicsr.infer.image_io import Picture
from igan_basicsr.infer.onnx_export import export_onnx, photo_batch
from igan_basicsr.infer.upscaler import NEVER, Switches, Upscaler
from igan_basicsr.models import has_switches
from igan_basicsr.options import load_options
from igan_basicsr.plugins import add_import_argument, load_plugins
from scripts.benchmarks.common import OneLineParser, Refusal, run_command

WARM_UP = 24  # LR pixels a side of the untimed first run (one-off allocations, ONNX graph optimisation)


# ----------------------------------------------------------------------------------------------------- engines
class Row(NamedTuple):
    """One timed run: engine, whole or tiled, seconds and output megapixels."""
    engine: str
    inference: str
    seconds: float
    megapixels: float

    @property
    def rate(self):
        return self.megapixels / self.seconds


def picture(width, height):
    return Picture(photo_batch(1, height, width)[0].permute(1, 2, 0).contiguous().numpy(), None, 8)


def timed(upscaler, size):
    """(seconds, output megapixels) of one run on a `size` picture, after one on a small picture."""
    upscaler(picture(WARM_UP, WARM_UP))
    start = time.perf_counter()
    out = upscaler(picture(*size)).picture
    return time.perf_counter() - start, out.size[0] * out.size[1] / 1e6


def make_engines(args, folder):
    """(name, engine) for PyTorch (a saved random IGAN read back as `basicsr infer --weights` reads it) and ONNX."""
    torch.manual_seed(0)
    net = IGAN(upscale=args.scale, num_feat=args.num_feat, num_group=args.num_group, num_block=args.num_block)
    weights, onnx_path = os.path.join(folder, 'igan.pth'), os.path.join(folder, 'igan.onnx')
    torch.save({'params': net.state_dict()}, weights)
    pytorch = from_weights(weights, torch.device('cpu'))
    print('exporting to ONNX and checking it ...', flush=True)
    export_onnx(pytorch, onnx_path)
    return (('PyTorch', pytorch), ('onnxruntime', from_onnx(onnx_path, torch.device('cpu'))))


def engines(prog, argv):
    """The engines command: each engine's MP/s whole and tiled, and the ratios, printed."""
    parser = OneLineParser(prog=prog, description='Speed of `basicsr infer` on this machine: output megapixels per '
                           'second, whole image and tiled, PyTorch and onnxruntime, in one run.')
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
        for name, engine in make_engines(args, folder):
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


# ------------------------------------------------------------------------------------------------------ tiling
def tiling_args(prog, argv):
    """(arguments, the checkpoint to measure with or None for random weights), after checking that the model can
    tile and every input exists; one line and exit 2 otherwise."""
    parser = OneLineParser(prog=prog, description='Tiled against whole-image inference for one model: peak memory '
                                                  'at a given LR size, PSNR/SSIM on benchmarks.')
    parser.add_argument('opt', help='option file of a SwitchSRModel or IGANModel (network_g, optionally '
                        'path.pretrain_network_g)')
    parser.add_argument('--tile', type=int, required=True, help='LR pixels per tile side')
    parser.add_argument('--tile-pad', type=int, default=16, help='LR context pixels around each tile (default 16)')
    parser.add_argument('--size', type=parse_size, default=(510, 339), help='LR WIDTHxHEIGHT (default 510x339)')
    parser.add_argument('--runs', type=int, default=1, help='timed runs after one warm-up (default 1)')
    add_weight_arguments(parser)
    parser.add_argument('--out', default='results/tiling', help='output folder (default results/tiling)')
    add_import_argument(parser)
    args = parser.parse_args(argv)
    if args.no_weights and (args.benchmark or args.weights):
        parser.error('--no-weights measures time and memory only: drop it, or drop --benchmark and --weights.')
    with parser.refusing():
        load_plugins(args.imports)
        opt = load_options(args.opt)
        model_type = opt.get('model_type', 'SRModel')
        if not has_switches(model_type):
            raise Refusal(f'{args.opt}: model_type {model_type} has no tiled inference; use SwitchSRModel (or '
                          'IGANModel for IGAN).')
        weights = None if args.no_weights else args.weights or checkpoint_of(opt)
        if weights and not os.path.isfile(weights):
            raise Refusal(f'{weights}: checkpoint not found (give --weights, or --no-weights for memory only).')
        for folder in args.benchmark if weights else []:
            benchmark_dataset(folder, opt['scale'])
    return args, weights


def as_row(r, label):
    """measure's result `r` as a row of the table, labelled `label`."""
    r.update(variant=label, gflops=r['flops'] / 1e9, out_size='{}x{}'.format(*r['output_shape'][:1:-1]))
    for bench, values in r['metrics'].items():
        r.update({f'{bench}_psnr': values['psnr'], f'{bench}_ssim': values['ssim']})
    return r


def tiling_rows(args, weights):
    """The whole-image and the tiled rows, each measured in its own process, the tiled one with the PSNR/SSIM
    differences to the whole one; then the Bicubic row (MATLAB bicubic of the same LR images) where scored."""
    rows = []
    for label, tile, pad in (('whole image', None, None), (f'tiles {args.tile}+{args.tile_pad}', args.tile,
                                                           args.tile_pad)):
        print(f'measuring {label} ...', flush=True)
        rows.append(as_row(measure(args.opt, args.size, args.runs, args.benchmark, weights=weights,
                                   use_weights=not args.no_weights, device=args.device, tile=tile, tile_pad=pad,
                                   imports=args.imports), label))
    whole, tiled = rows
    for bench in whole['metrics']:
        tiled[f'{bench}_dpsnr'] = tiled[f'{bench}_psnr'] - whole[f'{bench}_psnr']
        tiled[f'{bench}_dssim'] = tiled[f'{bench}_ssim'] - whole[f'{bench}_ssim']
    if whole['metrics']:
        print(f'measuring {BICUBIC} ...', flush=True)
        with tempfile.TemporaryDirectory() as folder:
            rows.append(as_row(measure(bicubic_option_file(folder, whole['scale']), args.size, args.runs,
                                       args.benchmark, device=args.device, imports=args.imports), BICUBIC))
    return rows


def tiling(prog, argv):
    """The tiling command: OUT/tiling.md and tiling.csv."""
    args, weights = tiling_args(prog, argv)
    rows = tiling_rows(args, weights)
    whole = rows[0]
    memory = ('torch.cuda.max_memory_allocated' if whole['device_type'] == 'cuda' else
              'ru_maxrss of a fresh process (imports + weights + inference)')
    notes = [f"{whole['name']} ({whole['arch']}, x{whole['scale']}) on {whole['device']}; "
             f"weights: {weights or 'random'}.",
             'Memory and time for one {}x{} LR input; peak memory = {}; time = median of {} run(s) after one '
             'warm-up.'.format(*args.size, memory, args.runs),
             f'PSNR/SSIM: {PROTOCOL}; delta = tiled - whole; {BICUBIC} = MATLAB bicubic upscaling of the same LR '
             'images (no convolutions: 0 FLOPs counted).']
    notes += [note for note in [precision_note(rows[:2])] if note]
    columns = [('variant', 'inference', None), ('out_size', 'output', None), ('peak_mem_mib', 'peak mem (MiB)', '.0f'),
               ('mem_before_inference_mib', 'mem before inference (MiB)', '.0f'),
               ('latency_ms', 'time (ms)', '.0f'), ('gflops', 'GFLOPs', '.1f')]
    for bench in whole['metrics']:
        columns += [(f'{bench}_psnr', f'{bench} PSNR', '.3f'), (f'{bench}_dpsnr', 'delta PSNR', '+.3f'),
                    (f'{bench}_ssim', f'{bench} SSIM', '.4f'), (f'{bench}_dssim', 'delta SSIM', '+.4f')]
    print(write_table(args.out, 'tiling', columns, rows, notes))
    print(f'wrote tiling.md and tiling.csv to {args.out}')
    return 0


def main(argv=None):
    return run_command('inference', __doc__, {'engines': engines, 'tiling': tiling}, argv)


if __name__ == '__main__':
    sys.exit(main())
