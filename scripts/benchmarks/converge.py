"""The fastest training setting against the defaults: both trained by basicsr's own trainer for the same
iterations from the same seed on the same LMDB, their training losses and validation PSNR compared.

    python -m scripts.benchmarks.converge --fast-from results/train_speed/train_speed.json --data datasets/demo
    python -m scripts.benchmarks.converge --tiny --compile-backend eager --data /tmp/demo      # small, on CPU

Each run is budget_compare's training (`python -m igan_basicsr.train`) of --opt's network and training over the
LMDBs at --data with the switches of the run; basicsr validates it on --val every --val-every iterations and logs
the losses and PSNR to tensorboard, where they are read back. The fast setting is accepted when it trains as well
as the defaults (ACCEPT_DB, ACCEPT_LOSS below).
"""
import contextlib
import copy
import json
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from igan_basicsr.comparison.curves import metric_curves, read_scalars, tb_folder, with_validation
from igan_basicsr.comparison.measure import benchmark_dataset
from igan_basicsr.comparison.report import cell
from igan_basicsr.demo import write_demo_data
from igan_basicsr.options import OptionError, read_option_file
from igan_basicsr.plugins import add_import_argument, load_plugins
from scripts.benchmarks.common import (
    IGAN_OPT,
    TINY_NET,
    OneLineParser,
    Refusal,
    Variant,
    check_positive,
    check_run,
    parse_variant,
    switch_options,
    yaml_lines,
)
from scripts.comparison.budget_compare import TrainingFailed, lmdb_train_set, train

# Accepted: the fast run's validation PSNR at most this far below the default's on every validation set. The
# repository's budget comparison (README) found a seed-to-seed standard deviation of 0.02-0.06 dB between short
# runs of the same model: a gap under 0.05 dB cannot be told from the choice of seed.
ACCEPT_DB = 0.05
# The training L1 of the last fifth of the run, mean over the logged iterations, at most this much higher.
ACCEPT_LOSS = 0.02
RUNS = ('defaults', 'fast')
# The repository's IGAN training file, wherever this runs: the trainings write experiments/ and tb_logger/ into
# the working directory, which need not be the repository.
DEFAULT_OPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), IGAN_OPT)


def converge_parser():
    parser = OneLineParser(prog='converge', description=(
        'The default and the fast settings of an IGAN option file trained by basicsr for the same iterations from '
        'the same seed on the same LMDB; training loss and validation PSNR compared. The trainings write '
        'experiments/ and tb_logger/ into the working directory.'))
    parser.add_argument('--opt', default=DEFAULT_OPT,
                        help=f"option file whose network_g/train are used (default: the repository's {IGAN_OPT})")
    parser.add_argument('--fast', help="the fast switches, e.g. bf16+channels_last+fused+compile (default: "
                                       "--fast-from's best, else that)")
    parser.add_argument('--fast-from', help="train_speed.json of a speed run: its fastest combination")
    parser.add_argument('--data', required=True,
                        help="folder of the training LMDBs (DIV2K_train_HR_sub.lmdb, DIV2K_train_LR_bicubic_X4_"
                             "sub.lmdb); written there from scikit-image's photographs (the demo's) if absent")
    parser.add_argument('--val', nargs='*', default=[],
                        help='benchmark folders (HR/, LR_bicubic/X4/) basicsr validates on; default: the '
                             "demo's validation photographs under --data")
    parser.add_argument('--iters', type=int, help='iterations of each run (default 1000; tiny 20)')
    parser.add_argument('--val-every', type=int, help='validate every N iterations (default 200; tiny 10)')
    parser.add_argument('--print-freq', type=int, help='training-log interval (default 10; tiny 2)')
    parser.add_argument('--workers', type=int, default=4, help='loader workers per run (default 4)')
    parser.add_argument('--sequential', action='store_true', help='run the two trainings one after the other')
    parser.add_argument('--time-limit', type=float,
                        help='seconds after which an unfinished training is stopped; what tensorboard had written by '
                             'then (every 2 minutes) is compared')
    parser.add_argument('--tiny', action='store_true', help=f"tiny IGAN ({TINY_NET['IGAN']}), batch 2, GT 32")
    parser.add_argument('--compile-backend', default='inductor', help='torch.compile backend (default inductor)')
    parser.add_argument('--out', default=os.path.join('results', 'converge'), help='folder for the comparison')
    add_import_argument(parser)
    return parser


def fast_switches(args):
    """The fast run's switches: --fast, else --fast-from's best, else bf16+channels_last+fused+compile."""
    if args.fast:
        variant = parse_variant(args.fast, 'cuda' if torch.cuda.is_available() else 'cpu')
    elif args.fast_from:
        try:
            with open(args.fast_from) as f:
                variant = Variant(json.load(f)['best']['switches'])
        except (OSError, ValueError, KeyError) as err:
            raise Refusal(f'--fast-from {args.fast_from}: no best combination in it ({type(err).__name__}).') from None
    else:
        variant = Variant({'bf16', 'channels_last', 'fused', 'compile'})
    if 'fp32' in variant.switches or not variant.switches:
        given = (f'--fast {variant.combo()}:' if args.fast else
                 f'--fast-from {args.fast_from}: its fastest, {variant.combo()},')
        raise Refusal(f'{given} needs option-file switches (fp32 and defaults have none): nothing to compare.')
    return variant.switches


def checked_args(parser, argv):
    """Parsed arguments with the defaults filled in, the fast switches and the option file; one line and exit 2
    for anything that cannot run."""
    args = parser.parse_args(argv)
    args.iters = args.iters or (20 if args.tiny else 1000)
    args.val_every = args.val_every or (10 if args.tiny else 200)
    args.print_freq = args.print_freq or (2 if args.tiny else 10)
    with parser.refusing():
        load_plugins(args.imports)
        switches = fast_switches(args)
        base = read_option_file(args.opt)
        check_positive(args, 'iters', 'val_every', 'print_freq', 'workers')
        check_run('cuda' if torch.cuda.is_available() else 'cpu', args.compile_backend)
        if args.iters % args.val_every:
            raise Refusal(f'--iters {args.iters} must be a multiple of --val-every {args.val_every}.')
        if args.print_freq > args.iters // 5:
            raise Refusal(f'--print-freq {args.print_freq} logs no loss in the last fifth of --iters {args.iters}; '
                          f'use at most {args.iters // 5}.')
        if args.time_limit is not None and not args.time_limit > 0:
            raise Refusal(f'--time-limit must be positive, got {args.time_limit}.')
        for folder in args.val:
            try:
                benchmark_dataset(folder, base['scale'])
            except OptionError as err:
                raise Refusal(f'--val {err}') from None
    return args, switches, base


def training_options(base, name, switches, folders, args):
    """The option file of one convergence run: the file's network and training over the LMDBs at --data, validated
    on `folders` every --val-every iterations."""
    opt = copy.deepcopy(base)
    top, train_switches, _ = switch_options(switches, base['train']['optim_g'], args.compile_backend)
    if args.tiny:
        opt['network_g'].update(TINY_NET['IGAN'])
    train_set = lmdb_train_set(opt['datasets']['train'], args.data, opt['scale'])
    train_set.update(num_worker_per_gpu=args.workers, dataset_enlarge_ratio=100)
    if args.tiny:
        train_set.update(gt_size=32, batch_size_per_gpu=2)
    opt.update(name=name, datasets={'train': train_set}, **top)
    opt.pop('val', None)
    opt['train'].update(train_switches, total_iter=args.iters)
    opt['logger'].update(print_freq=args.print_freq, save_checkpoint_freq=args.iters)
    opt['path']['pretrain_network_g'] = None
    return with_validation(opt, [benchmark_dataset(folder, opt['scale']) for folder in folders], args.val_every)


def ensure_data(data, scale):
    """The demo's photographs as training LMDBs and a validation set under `data`, unless already there."""
    if not os.path.isdir(os.path.join(data, 'DIV2K_train_HR_sub.lmdb')):
        write_demo_data({'scale': scale, 'datasets': {
            'train': {'dataroot_gt': os.path.join(data, 'DIV2K_train_HR_sub.lmdb')},
            'val': {'dataroot_gt': os.path.join(data, 'benchmark', 'demo_val', 'HR')}}})


def trained(opt, switches, args):
    """One run trained by budget_compare's `train`: its exit (0, or what stopped it) and the L1 and PSNR that
    basicsr logged to tensorboard, {'loss': [[iteration, l_pix]], 'psnr': {iteration: {set: PSNR}}}."""
    print(f"{opt['name']}: {' | '.join(yaml_lines(switches, args.compile_backend)) or 'no switches'}", flush=True)
    began = time.time()
    try:
        train(opt, args.out, imports=args.imports, timeout=args.time_limit)
        code = 0
    except TrainingFailed as err:  # its first line names the log; the log's last line says why
        lines = [line for line in str(err).splitlines() if line.strip()]
        code = f'{lines[0]} {lines[-1].strip()}'
    except subprocess.TimeoutExpired:
        code = f'stopped at --time-limit {args.time_limit:g} s'
    folder = tb_folder(opt['name'])
    scalars = read_scalars(folder, since=began) if os.path.isdir(folder) else {}
    psnr = {}  # by iteration, then set: the report's rows
    for dataset, points in metric_curves(scalars).items():
        for it, value in points:
            psnr.setdefault(it, {})[dataset] = value
    return code, {'loss': [list(p) for p in scalars.get('losses/l_pix', [])], 'psnr': psnr}


def compare_runs(result, iters):
    """The last fifth's mean L1 of both runs, the final PSNR gap per set and whether the fast run is accepted."""
    d, f = (result['runs'].get(k, {}) for k in RUNS)
    tail = iters - iters // 5
    last = [statistics.mean([loss for it, loss in r.get('loss', []) if it > tail] or [math.nan]) for r in (d, f)]
    found = {'last_fifth_loss': {'defaults': last[0], 'fast': last[1], 'from_iter': tail + 1,
                                 'relative': last[1] / last[0] - 1 if last[0] else None}}
    dp, fp = d.get('psnr', {}).get(iters), f.get('psnr', {}).get(iters)
    if dp and fp:
        found['final_psnr_gap'] = {name: fp[name] - dp[name] for name in dp if name in fp}
    ok_psnr = bool(dp and fp) and all(gap >= -ACCEPT_DB for gap in found.get('final_psnr_gap', {}).values())
    rel = found['last_fifth_loss']['relative']
    ok_loss = rel is not None and not math.isnan(rel) and rel <= ACCEPT_LOSS
    found['accepted'] = ok_psnr and ok_loss and all(c == 0 for c in result['exit_codes'].values())
    return found


def window_means(points, width):
    """{window end: mean l_pix of the logged iterations in (end - width, end]}."""
    means = {}
    for end in range(width, max((it for it, _ in points), default=0) + 1, width):
        values = [loss for it, loss in points if end - width < it <= end]
        if values:
            means[end] = statistics.mean(values)
    return means


def psnr_table(runs, names):
    lines = ['| iteration | ' + ' | '.join(f'defaults {n} | fast {n} | fast - defaults' for n in names) + ' |',
             '|' + ' ---: |' * (1 + 3 * len(names))]
    for it in sorted(set(runs['defaults']['psnr']) | set(runs['fast']['psnr']), key=int):
        cells = []
        for n in names:
            a, b = (runs[k]['psnr'].get(it, {}).get(n) for k in RUNS)
            cells += [cell(a, '.3f'), cell(b, '.3f'), cell(None if None in (a, b) else b - a, '+.3f')]
        lines.append(f'| {it} | ' + ' | '.join(cells) + ' |')
    return lines


def loss_table(runs, width):
    dm, fm = (window_means(runs[k]['loss'], width) for k in RUNS)
    lines = ['| iterations | defaults | fast | fast / defaults |', '| ---: | ---: | ---: | ---: |']
    for end in sorted(set(dm) | set(fm)):
        a, b = dm.get(end), fm.get(end)
        lines.append(f'| {end - width + 1}-{end} | {cell(a, ".5f")} | {cell(b, ".5f")} | '
                     f'{cell(b / a if a and b else None, ".4f")} |')
    return lines


def converge_report(result, args, folders):
    """converge.md: the PSNR per validation, the L1 per window and the verdict."""
    names = [os.path.basename(os.path.normpath(v)) for v in folders]
    width = max(args.iters // 10, args.print_freq)
    last, gaps = result['last_fifth_loss'], result.get('final_psnr_gap', {})
    lines = [f"Convergence: defaults vs fast ({' + '.join(result['fast'])}), {args.iters} iterations each, the same "
             f"seed and LMDB, basicsr's trainer ({'both at once' if result['parallel'] else 'one after the other'}"
             f"); exits {result['exit_codes']}.", '',
             f"{args.opt}'s network and training{' (tiny)' if args.tiny else ''} on "
             f"{'cuda' if torch.cuda.is_available() else 'cpu'}; torch.compile backend {args.compile_backend}.", '',
             'Fast setting, option-file lines:', '', '```yaml', *result['fast_yaml'], '```', '',
             f"Validation PSNR (dB, Y, crop_border = scale) by basicsr's validation, on {', '.join(names)}:", '',
             *psnr_table(result['runs'], names), '',
             f'Training L1 (l_pix), mean of the logged iterations (every {args.print_freq}) per {width} iterations:',
             '', *loss_table(result['runs'], width), '']
    if last['relative'] is not None and not math.isnan(last['relative']):
        lines.append(f"Last fifth (iterations {last['from_iter']}-{args.iters}): mean L1 defaults "
                     f"{last['defaults']:.5f}, fast {last['fast']:.5f} ({last['relative']:+.2%}).")
    lines += ['Final PSNR gap (fast - defaults): ' + (', '.join(f'{k} {v:+.3f} dB' for k, v in gaps.items())
                                                      or 'none'),
              f'Accepted when the fast run is at most {ACCEPT_DB} dB below on every set (the seed-to-seed spread '
              f'of short runs, 0.02-0.06 dB) and its last-fifth L1 at most {ACCEPT_LOSS:.0%} higher: '
              + ('**accepted**.' if result['accepted'] else '**not accepted**.')]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = converge_parser()
    args, switches, base = checked_args(parser, sys.argv[1:] if argv is None else argv)
    ensure_data(args.data, base['scale'])
    folders = args.val or [os.path.join(args.data, 'benchmark', 'demo_val')]
    runs = dict(zip(RUNS, (frozenset(), switches)))
    with parser.refusing():
        opts = {key: training_options(base, f"converge_{key}{'_tiny' if args.tiny else ''}", on, folders, args)
                for key, on in runs.items()}
    os.makedirs(args.out, exist_ok=True)
    with ThreadPoolExecutor(1 if args.sequential else len(RUNS)) as pool:
        done = dict(zip(RUNS, pool.map(lambda key: trained(opts[key], runs[key], args), RUNS)))
    result = {'fast': sorted(switches), 'fast_yaml': yaml_lines(switches, args.compile_backend), 'iters': args.iters,
              'parallel': not args.sequential, 'exit_codes': {k: code for k, (code, _) in done.items()},
              'runs': {k: run for k, (_, run) in done.items()}}
    result.update(compare_runs(result, args.iters))
    with open(os.path.join(args.out, 'converge.json'), 'w') as f:
        json.dump(result, f, indent=1)
    text = converge_report(result, args, folders)
    with open(os.path.join(args.out, 'converge.md'), 'w') as f:
        f.write(text)
    print('\n' + text)
    return 0 if all(c == 0 for c in result['exit_codes'].values()) else 1


if __name__ == '__main__':
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
