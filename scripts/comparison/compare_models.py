"""Compare super-resolution models given by option files: parameters, FLOPs, latency, peak memory, PSNR/SSIM.

    python scripts/comparison/compare_models.py options/test_IGAN_x4.yml options/compare/RCAN_x4.yml ... \
        --benchmark datasets/benchmark/Set5 --benchmark datasets/benchmark/Urban100 --out results/compare_x4

Each model is measured in its own fresh process through basicsr's test path (the option file's model_type,
so SwitchSRModel's tiling/self-ensemble options and SwinIRModel's window padding apply). Writes compare.md,
compare.csv and compare.png (PSNR vs FLOPs, or latency vs parameters when no model has a checkpoint) to --out.
"""
import argparse
import os
import sys

from tqdm import tqdm

from igan_basicsr.comparison.measure import (
    PROTOCOL,
    MeasureFailed,
    benchmark_dataset,
    checkpoint_of,
    measure,
    parse_size,
    precision_note,
)
from igan_basicsr.comparison.report import save_figure, subplots, write_table
from igan_basicsr.options import OptionError, load_model_options
from igan_basicsr.released import CheckpointError, load_checkpoint


def check_inputs(option_files, benchmarks, profile_only):
    """Every problem with the inputs at once, before any model is measured."""
    loaded, problems = load_model_options(option_files)
    opts = dict(loaded)
    if not profile_only:
        for path, opt in opts.items():
            ckpt = checkpoint_of(opt)
            if ckpt and not os.path.isfile(ckpt):
                problems.append(f'{path}: path.pretrain_network_g {ckpt} not found: download or train it, set it to '
                                '~ to profile this model without metrics, or pass --profile-only.')
            elif ckpt:
                # Peers load through basicsr's BaseModel.load_network, whose torch.load names no weights_only:
                # every file is opened weights-only here first, so none runs code and a bad one stops the run now.
                try:
                    load_checkpoint(ckpt)
                except CheckpointError as err:
                    problems.append(f'{path}: path.pretrain_network_g {err}')
        scales = {opt['scale'] for opt in opts.values() if checkpoint_of(opt)}
        for folder in benchmarks:
            for scale in sorted(scales):
                try:
                    benchmark_dataset(folder, scale)
                except OptionError as err:
                    problems.append(str(err))
    if problems:
        raise OptionError('\n'.join(problems))


def plot(rows, benchmarks, path, size):
    scored = [r for r in rows if r['metrics']]
    panels = benchmarks if scored else [None]
    fig, axes = subplots(len(panels), (5.5 * len(panels), 4.2))
    for ax, bench in zip(axes[0], panels):
        points = [(r['gflops'], r['metrics'][bench]['psnr'], r['name']) for r in scored if bench in r['metrics']] \
            if bench else [(r['params_m'], r['latency_ms'], r['name']) for r in rows if r['latency_ms'] is not None]
        for x, y, name in points:
            ax.scatter(x, y)
            ax.annotate(name, (x, y), textcoords='offset points', xytext=(4, 4), fontsize=8)
        if bench:
            ax.set(xlabel=f'GFLOPs ({size} LR input)', ylabel='PSNR (dB, Y)', title=bench)
        else:
            ax.set(xlabel='parameters (M)', ylabel=f'median latency (ms, {size} LR input)', title='latency vs size')
        ax.grid(alpha=.3)
    save_figure(fig, path)


def parse_arguments(argv):
    """(parser, arguments) of the command line, the options that would be ignored refused."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('options', nargs='+', help='option files (network_g, optional path.pretrain_network_g)')
    parser.add_argument('--benchmark', action='append', default=[],
                        help='datasets/benchmark/<Name> folder (HR/ and LR_bicubic/X<scale>/); repeatable')
    parser.add_argument('--out', default='results/compare', help='output folder (default results/compare)')
    parser.add_argument('--size', type=parse_size, default=(320, 180),
                        help='LR input WIDTHxHEIGHT for FLOPs, latency and memory (default 320x180)')
    parser.add_argument('--runs', type=int, default=5, help='timed runs per model, after one warm-up (default 5)')
    parser.add_argument('--profile-only', action='store_true', help='ignore checkpoints: no PSNR/SSIM')
    parser.add_argument('--device', choices=('cpu', 'cuda'), help='default: cuda where present')
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error('--runs must be at least 1')
    if args.profile_only and args.benchmark:
        parser.error('--benchmark scores checkpoints and --profile-only ignores them: drop one of the two.')
    return parser, args


def measure_all(parser, args):
    """One row per option file, each model measured in its own process; exits 1 at the first that fails."""
    rows = []
    progress = tqdm(args.options, desc='models', unit='model')
    for path in progress:
        try:
            r = measure(path, args.size, args.runs, args.benchmark, use_weights=not args.profile_only,
                        device=args.device)
        except MeasureFailed as err:
            progress.close()
            parser.exit(1, f'{parser.prog}: error: {err}\nNo table written.\n')
        r.update(params_m=r['params'] / 1e6, gflops=r['flops'] / 1e9)
        for bench, values in r['metrics'].items():
            r.update({f'{bench}_psnr': values['psnr'], f'{bench}_ssim': values['ssim']})
        rows.append(r)
        tqdm.write(f"{r['name']}: {r['params_m']:.2f} M params, {r['gflops']:.1f} GFLOPs, {r['latency_ms']:.0f} ms")
    return rows


def table_notes(rows, args, size):
    """The notes under compare.md's table: device, how FLOPs, latency, memory and scores were taken."""
    memory = ('peak memory = torch.cuda.max_memory_allocated' if rows[0]['device_type'] == 'cuda' else
              'peak memory = ru_maxrss of a fresh process per model (imports + weights + inference; '
              'mem before inference = the same before the first forward)')
    notes = [f"Device: {rows[0]['device']}.",
             f'FLOPs for a {size} LR input (torch.utils.flop_counter: convolutions and matrix products, '
             'one multiply-add = 2 FLOPs), through the model\'s own test() (tiles and padding included).',
             f'Latency: median of {args.runs} runs after one warm-up, batch 1, {size} LR input; {memory}.',
             f'PSNR/SSIM: {PROTOCOL}; "-" = no checkpoint.']
    return notes + [note for note in [precision_note(rows)] if note]


def table_columns(size, names):
    """compare.md's and compare.csv's columns: (key, heading, format); PSNR and SSIM per benchmark `names`."""
    columns = [('name', 'model', None), ('arch', 'arch', None), ('scale', 'scale', None),
               ('params_m', 'params (M)', '.3f'), ('gflops', f'GFLOPs @{size}', '.1f'),
               ('latency_ms', 'latency (ms)', '.0f'), ('peak_mem_mib', 'peak mem (MiB)', '.0f'),
               ('mem_before_inference_mib', 'mem before inference (MiB)', '.0f')]
    return columns + [c for n in names for c in ((f'{n}_psnr', f'{n} PSNR', '.2f'), (f'{n}_ssim', f'{n} SSIM', '.4f'))]


def main(argv=None):
    parser, args = parse_arguments(argv)
    try:
        check_inputs(args.options, args.benchmark, args.profile_only)
    except OptionError as err:
        parser.exit(2, f'{parser.prog}: error: {err}\n')
    rows = measure_all(parser, args)
    size = '{}x{}'.format(*args.size)
    names = [os.path.basename(b.rstrip('/')) for b in args.benchmark]
    print(write_table(args.out, 'compare', table_columns(size, names), rows, table_notes(rows, args, size)))
    plot(rows, names, os.path.join(args.out, 'compare.png'), size)
    print(f'wrote compare.md, compare.csv and compare.png to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
