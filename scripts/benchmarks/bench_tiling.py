"""Tiled against whole-image inference for one model: peak memory at a given LR size, PSNR/SSIM on benchmarks.

    python -m scripts.benchmarks.bench_tiling options/test_IGAN_x4.yml --tile 128 --tile-pad 16 --size 510x339 \\
        --no-weights

The default size, 510x339, is the LR input of a 2040x1356 x4 output (a DIV2K photograph). IGAN's CAGM pools
over its whole input, so a tile sees less context than the image: the PSNR columns show what that costs; with
--benchmark, a Bicubic row (MATLAB bicubic upscaling of the same LR images) shows what either gains over it.
Each variant runs in its own fresh process (memory = ru_maxrss there, or torch.cuda.max_memory_allocated).
"""
import argparse
import os
import sys
import tempfile

from igan_basicsr.comparison.measure import (
    BICUBIC,
    PROTOCOL,
    add_weight_arguments,
    benchmark_dataset,
    bicubic_option_file,
    checkpoint_of,
    measure,
    parse_size,
    precision_note,
)
from igan_basicsr.comparison.report import write_table
from igan_basicsr.models import has_switches
from igan_basicsr.options import OptionError, load_options
from igan_basicsr.plugins import PluginError, add_import_argument, load_plugins


def parse_arguments(argv):
    """(parser, arguments) of the command line, the options that would be ignored refused."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    return parser, args


def checked_weights(parser, args):
    """The checkpoint to measure with (None: random weights), after checking the model can tile and every input
    exists; exits 2 naming the problem."""
    try:
        load_plugins(args.imports)
        opt = load_options(args.opt)
        if not has_switches(opt.get('model_type', 'SRModel')):
            raise OptionError(f"{args.opt}: model_type {opt.get('model_type', 'SRModel')} has no tiled inference; "
                              'use SwitchSRModel (or IGANModel for IGAN).')
        weights = None if args.no_weights else args.weights or checkpoint_of(opt)
        if weights and not os.path.isfile(weights):
            raise OptionError(f'{weights}: checkpoint not found (give --weights, or --no-weights for memory only).')
        for folder in args.benchmark if weights else []:
            benchmark_dataset(folder, opt['scale'])
    except (OptionError, PluginError) as err:
        parser.exit(2, f'{parser.prog}: error: {err}\n')
    return weights


def measure_variants(args, weights):
    """(whole, tiled): the rows of the whole-image and the tiled inference, each measured in its own process; the
    tiled row carries the PSNR/SSIM differences to the whole one."""
    rows = []
    variants = (('whole image', None, None), (f'tiles {args.tile}+{args.tile_pad}', args.tile, args.tile_pad))
    for label, tile, pad in variants:
        print(f'measuring {label} ...', flush=True)
        r = measure(args.opt, args.size, args.runs, args.benchmark, weights=weights, use_weights=not args.no_weights,
                    device=args.device, tile=tile, tile_pad=pad, imports=args.imports)
        rows.append(as_row(r, label))
    whole, tiled = rows
    for bench in whole['metrics']:
        tiled[f'{bench}_dpsnr'] = tiled[f'{bench}_psnr'] - whole[f'{bench}_psnr']
        tiled[f'{bench}_dssim'] = tiled[f'{bench}_ssim'] - whole[f'{bench}_ssim']
    return whole, tiled


def as_row(r, label):
    """measure's result `r` as a row of the table, labelled `label`."""
    r.update(variant=label, gflops=r['flops'] / 1e9, out_size='{}x{}'.format(*r['output_shape'][:1:-1]))
    for bench, values in r['metrics'].items():
        r.update({f'{bench}_psnr': values['psnr'], f'{bench}_ssim': values['ssim']})
    return r


def bicubic_row(args, scale):
    """The Bicubic row: MATLAB bicubic upscaling of the same LR images, measured and scored as the model is."""
    print(f'measuring {BICUBIC} ...', flush=True)
    with tempfile.TemporaryDirectory() as folder:
        return as_row(measure(bicubic_option_file(folder, scale), args.size, args.runs, args.benchmark,
                              device=args.device, imports=args.imports), BICUBIC)


def table_notes(whole, tiled, args, weights):
    """The notes under tiling.md's table: the model, the input, how memory and time were taken."""
    size = '{}x{}'.format(*args.size)
    memory = ('torch.cuda.max_memory_allocated' if whole['device_type'] == 'cuda' else
              'ru_maxrss of a fresh process (imports + weights + inference)')
    notes = [f"{whole['name']} ({whole['arch']}, x{whole['scale']}) on {whole['device']}; "
             f"weights: {weights or 'random'}.",
             f'Memory and time for one {size} LR input; peak memory = {memory}; time = median of {args.runs} '
             'run(s) after one warm-up.',
             f'PSNR/SSIM: {PROTOCOL}; delta = tiled - whole; {BICUBIC} = MATLAB bicubic upscaling of the same LR '
             'images (no convolutions: 0 FLOPs counted).']
    return notes + [note for note in [precision_note([whole, tiled])] if note]


def table_columns(benches):
    """tiling.md's and tiling.csv's columns: (key, heading, format); score and difference per benchmark."""
    columns = [('variant', 'inference', None), ('out_size', 'output', None), ('peak_mem_mib', 'peak mem (MiB)', '.0f'),
               ('mem_before_inference_mib', 'mem before inference (MiB)', '.0f'),
               ('latency_ms', 'time (ms)', '.0f'), ('gflops', 'GFLOPs', '.1f')]
    for bench in benches:
        columns += [(f'{bench}_psnr', f'{bench} PSNR', '.3f'), (f'{bench}_dpsnr', 'delta PSNR', '+.3f'),
                    (f'{bench}_ssim', f'{bench} SSIM', '.4f'), (f'{bench}_dssim', 'delta SSIM', '+.4f')]
    return columns


def main(argv=None):
    parser, args = parse_arguments(argv)
    weights = checked_weights(parser, args)
    whole, tiled = measure_variants(args, weights)
    rows = [whole, tiled] + ([bicubic_row(args, whole['scale'])] if whole['metrics'] else [])
    print(write_table(args.out, 'tiling', table_columns(list(whole['metrics'])), rows,
                      table_notes(whole, tiled, args, weights)))
    print(f'wrote tiling.md and tiling.csv to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
