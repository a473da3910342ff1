"""Compare super-resolution models given by option files: parameters, FLOPs, latency, peak memory, PSNR/SSIM.

    python scripts/comparison/compare_models.py options/test_IGAN_x4.yml options/compare/RCAN_x4.yml ... \
        --benchmark datasets/benchmark/Set5 --benchmark datasets/benchmark/Urban100 --out results/compare_x4 \
        [--weights options/test_IGAN_x4.yml=experiments/IGAN_x4/models/net_g_5000.pth] [--import hat]

Each model is measured in its own fresh process through basicsr's test path (the option file's model_type,
so SwitchSRModel's tiling/self-ensemble options and SwinIRModel's window padding apply); the processes load the
basicsr.plugins entry points and the --import modules, as this one does. With --benchmark, a Bicubic row (MATLAB
bicubic upscaling of the same LR images, scored alike) comes with the models, and a model without weights keeps its
row (time and memory; "no weights" where its scores would be). Writes compare.md, compare.csv and compare.png (PSNR
vs FLOPs per benchmark, and latency vs parameters with the runs' min-max as whiskers) to --out.
"""
import argparse
import os
import sys
import tempfile

from tqdm import tqdm

from igan_basicsr.checkpoints import CheckpointError, load_checkpoint
from igan_basicsr.comparison.compare_report import NO_WEIGHTS, as_row, left_out, write_report
from igan_basicsr.comparison.measure import (
    BICUBIC,
    MeasureFailed,
    benchmark_dataset,
    bicubic_option_file,
    checkpoint_of,
    measure,
    parse_size,
    parse_weights_for,
    weights_by_file,
)
from igan_basicsr.options import OptionError, load_model_options
from igan_basicsr.plugins import PluginError, add_import_argument, load_plugins


def checkpoint_problem(path, opt, override):
    """Why the checkpoint a model would be scored with (`override`, from --weights, or its file's) cannot be
    used; None where it can, or where there is none."""
    ckpt = override or checkpoint_of(opt)
    where = f'--weights {path}=' if override else f'{path}: path.pretrain_network_g '
    if ckpt and not os.path.isfile(ckpt):
        return where + (f'{ckpt}: not found.' if override else f'{ckpt} not found: download or train it, set it to '
                        '~ to profile this model without metrics, or pass --profile-only.')
    if ckpt:
        # Peers load through basicsr's BaseModel.load_network, whose torch.load names no weights_only:
        # every file is opened weights-only here first, so none runs code and a bad one stops the run now.
        try:
            load_checkpoint(ckpt)
        except CheckpointError as err:
            return f'{where}{err}'
    return None


def check_inputs(option_files, benchmarks, profile_only, weights=None):
    """The scales of the models; every problem with the inputs at once, before any model is measured."""
    loaded, problems = load_model_options(option_files)
    opts = dict(loaded)
    if not profile_only:
        problems += [p for p in (checkpoint_problem(path, opt, (weights or {}).get(path)) for path, opt in loaded)
                     if p]
        # Every scale, weights or not: the bicubic row scores each scale compared.
        for folder in benchmarks:
            for scale in sorted({opt['scale'] for opt in opts.values()}):
                try:
                    benchmark_dataset(folder, scale)
                except OptionError as err:
                    problems.append(str(err))
    if problems:
        raise OptionError('\n'.join(problems))
    return sorted({opt['scale'] for opt in opts.values()})


def parse_arguments(argv):
    """(parser, arguments) of the command line, the options that would be ignored refused; args.weights becomes
    {option file: checkpoint}."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('options', nargs='+', help='option files (network_g, optional path.pretrain_network_g)')
    parser.add_argument('--benchmark', action='append', default=[],
                        help='datasets/benchmark/<Name> folder (HR/ and LR_bicubic/X<scale>/); repeatable')
    parser.add_argument('--weights', action='append', default=[], type=parse_weights_for,
                        metavar='OPTION_FILE=CHECKPOINT',
                        help="score OPTION_FILE's model with CHECKPOINT instead of its path.pretrain_network_g; "
                        'repeatable')
    parser.add_argument('--out', default='results/compare', help='output folder (default results/compare)')
    parser.add_argument('--size', type=parse_size, default=(320, 180),
                        help='LR input WIDTHxHEIGHT for FLOPs, latency and memory (default 320x180)')
    parser.add_argument('--runs', type=int, default=5, help='timed runs per model, after one warm-up (default 5)')
    parser.add_argument('--profile-only', action='store_true', help='ignore checkpoints: no PSNR/SSIM')
    parser.add_argument('--device', choices=('cpu', 'cuda'), help='default: cuda where present')
    add_import_argument(parser)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error('--runs must be at least 1')
    for given, flag in ((args.benchmark, '--benchmark'), (args.weights, '--weights')):
        if args.profile_only and given:
            parser.error(f'{flag} scores checkpoints and --profile-only ignores them: drop one of the two.')
    args.weights = weights_by_file(parser, args.weights, args.options)
    return parser, args


def measured_row(args, path, benchmarks):
    """One model measured in its own process, as a table row (compare_report.as_row); MeasureFailed when
    measuring fails."""
    return as_row(measure(path, args.size, args.runs, args.benchmark, weights=args.weights.get(path),
                          use_weights=not args.profile_only, device=args.device, imports=args.imports), benchmarks)


def measure_all(parser, args, scales, benchmarks):
    """One row per option file, then (when scoring) one Bicubic row per scale, each model measured in its own
    process; exits 1 at the first that fails."""
    with tempfile.TemporaryDirectory() as folder:
        bicubic = [bicubic_option_file(folder, scale) for scale in scales] if args.benchmark else []
        rows, progress = [], tqdm(args.options + bicubic, desc='models', unit='model')
        for path in progress:
            try:
                r = measured_row(args, path, benchmarks)
            except MeasureFailed as err:
                progress.close()
                parser.exit(1, f'{parser.prog}: error: {err}\nNo table written.\n')
            if path in bicubic and len(scales) > 1:
                r['name'] = f"{BICUBIC} x{r['scale']}"
            rows.append(r)
            scores = ', '.join(f"{b} {r['metrics'][b]['psnr']:.2f} dB" for b in r['metrics']) or 'not scored'
            tqdm.write(f"{r['name']}: {r['params_m']:.2f} M params, {r['gflops']:.1f} GFLOPs, "
                       f"{r['latency_ms']:.0f} ms; {scores}")
    return rows


def main(argv=None):
    parser, args = parse_arguments(argv)
    try:
        load_plugins(args.imports)
        scales = check_inputs(args.options, args.benchmark, args.profile_only, args.weights)
    except (OptionError, PluginError) as err:
        parser.exit(2, f'{parser.prog}: error: {err}\n')
    names = [os.path.basename(b.rstrip('/')) for b in args.benchmark]
    rows = measure_all(parser, args, scales, names)
    size = '{}x{}'.format(*args.size)
    print(write_report(args.out, rows, names, size, args.runs))
    if names and left_out(rows):
        print(f"compare.png: not on the PSNR panels ({NO_WEIGHTS}): {', '.join(left_out(rows))}")
    print(f'wrote compare.md, compare.csv and compare.png to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
