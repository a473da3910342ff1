"""The fastest training setting against the defaults: both trained by basicsr's own trainer for the same
iterations from the same seed on the same LMDB, their training losses and validation PSNR compared.

    python -m scripts.benchmarks.converge --fast-from results/train_speed/train_speed.json --data datasets/demo
    python -m scripts.benchmarks.converge --tiny --compile-backend eager --data /tmp/demo      # small, on CPU

Each run is `python -m igan_basicsr.train` on an option file written from --opt (its network_g and train), the
LMDBs at --data and the switches of the run; checkpoints every --ckpt-every iterations are scored on --val.
The fast setting is accepted when it trains as well as the defaults (ACCEPT_DB, ACCEPT_LOSS below).
"""
import contextlib
import copy
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from typing import NamedTuple

import torch
import yaml

from igan_basicsr.checkpoints import extract_state_dict, load_checkpoint
from igan_basicsr.demo import write_demo_data
from igan_basicsr.models.precision import conv_precision
from igan_basicsr.options import read_option_file
from igan_basicsr.plugins import add_import_argument, import_arguments, load_plugins
from scripts.benchmarks.common import (
    IGAN_OPT,
    TINY_NET,
    OneLineParser,
    Refusal,
    Variant,
    check_positive,
    parse_variant,
    switch_options,
    yaml_lines,
)

# Accepted: the fast run's validation PSNR at most this far below the default's on every validation set. The
# repository's budget comparison (README) found a seed-to-seed standard deviation of 0.02-0.06 dB between short
# runs of the same model: a gap under 0.05 dB cannot be told from the choice of seed.
ACCEPT_DB = 0.05
# The training L1 of the last fifth of the run, mean over the printed iterations, at most this much higher.
ACCEPT_LOSS = 0.02
LOG_LINE = re.compile(r'iter:\s*([\d,]+).*?time \(data\): ([\d.]+) \(([\d.]+)\)\].*?l_pix: ([-+\d.eE]+)')


def converge_parser():
    parser = OneLineParser(prog='converge', description=(
        'The default and the fast settings of an IGAN option file trained by basicsr for the same iterations from '
        'the same seed on the same LMDB; training loss and validation PSNR compared.'))
    parser.add_argument('--opt', default=IGAN_OPT, help=f'option file whose network_g/train are used ({IGAN_OPT})')
    parser.add_argument('--fast', help="the fast switches, e.g. bf16+channels_last+fused+compile (default: "
                                       "--fast-from's best, else that)")
    parser.add_argument('--fast-from', help="train_speed.json of a speed run: its fastest combination")
    parser.add_argument('--data', required=True,
                        help="folder of the training LMDBs (DIV2K_train_HR_sub.lmdb, DIV2K_train_LR_bicubic_X4_"
                             "sub.lmdb); written there from scikit-image's photographs (the demo's) if absent")
    parser.add_argument('--val', nargs='*', default=[],
                        help='benchmark folders (HR/, LR_bicubic/X4/) to score checkpoints on; default: the '
                             "demo's validation photographs under --data")
    parser.add_argument('--iters', type=int, help='iterations of each run (default 1000; tiny 20)')
    parser.add_argument('--ckpt-every', type=int, help='checkpoint (and score) every N iterations (default 200)')
    parser.add_argument('--print-freq', type=int, help='training-log interval (default 10; tiny 2)')
    parser.add_argument('--workers', type=int, default=4, help='loader workers per run (default 4)')
    parser.add_argument('--sequential', action='store_true', help='run the two trainings one after the other')
    parser.add_argument('--time-limit', type=float,
                        help='seconds after which unfinished trainings are stopped and what they saved is scored '
                             "(with --sequential, each run's own seconds)")
    parser.add_argument('--tiny', action='store_true', help=f"tiny IGAN ({TINY_NET['IGAN']}), batch 2, GT 32")
    parser.add_argument('--compile-backend', default='inductor', help='torch.compile backend (default inductor)')
    parser.add_argument('--out', default=os.path.join('results', 'converge'), help='folder for the comparison')
    add_import_argument(parser)
    return parser


def fast_switches(args):
    """The fast run's switches: --fast, else --fast-from's best, else bf16+channels_last+fused+compile."""
    if args.fast:
        variant = parse_variant(args.fast, 'cuda')  # what an option file may say, wherever this runs
    elif args.fast_from:
        try:
            with open(args.fast_from) as f:
                variant = Variant(json.load(f)['best']['switches'])
        except (OSError, ValueError, KeyError) as err:
            raise Refusal(f'--fast-from {args.fast_from}: no best combination in it ({type(err).__name__}).') from None
    else:
        variant = Variant({'bf16', 'channels_last', 'fused', 'compile'})
    if 'fp32' in variant.switches or not variant.switches:
        raise Refusal(f'--fast {variant.combo()}: needs option-file switches (fp32 and defaults have none).')
    return variant.switches


def checked_args(parser, argv):
    """Parsed arguments with the defaults filled in, the fast switches and the option file; one line and exit 2
    for anything that cannot run."""
    args = parser.parse_args(argv)
    args.iters = args.iters or (20 if args.tiny else 1000)
    args.ckpt_every = args.ckpt_every or (10 if args.tiny else 200)
    args.print_freq = args.print_freq or (2 if args.tiny else 10)
    with parser.refusing():
        load_plugins(args.imports)
        switches = fast_switches(args)
        base = read_option_file(args.opt)
        check_positive(args, 'iters', 'ckpt_every', 'print_freq', 'workers')
        if args.iters % args.ckpt_every:
            raise Refusal(f'--iters {args.iters} must be a multiple of --ckpt-every {args.ckpt_every}.')
        missing = [v for v in args.val if not os.path.isdir(os.path.join(v, 'HR'))]
        if missing:
            raise Refusal(f'--val {missing[0]}: not a benchmark folder with HR/ and LR_bicubic/X4/.')
    return args, switches, base


def training_options(base, name, data, switches, args):
    """The option file of one convergence run: the file's network and training over the LMDB at --data."""
    opt = copy.deepcopy(base)
    top, train, _ = switch_options(switches, base['train']['optim_g'], args.compile_backend)
    if args.tiny:
        opt['network_g'].update(TINY_NET['IGAN'])
    train_set = opt['datasets']['train']
    train_set.update(dataroot_gt=os.path.join(data, 'DIV2K_train_HR_sub.lmdb'),
                     dataroot_lq=os.path.join(data, f"DIV2K_train_LR_bicubic_X{opt['scale']}_sub.lmdb"),
                     num_worker_per_gpu=args.workers, dataset_enlarge_ratio=100)
    if args.tiny:
        train_set.update(gt_size=32, batch_size_per_gpu=2)
    opt['datasets'] = {'train': train_set}
    opt.pop('val', None)
    opt.update(name=name, **top)
    opt['train'].update(train, total_iter=args.iters)
    opt['logger'].update(print_freq=args.print_freq, save_checkpoint_freq=args.ckpt_every, use_tb_logger=False)
    opt['path']['pretrain_network_g'] = None
    return opt


def ensure_data(data, scale):
    """The demo's photographs as training LMDBs and a validation set under `data`, unless already there."""
    if not os.path.isdir(os.path.join(data, 'DIV2K_train_HR_sub.lmdb')):
        write_demo_data({'scale': scale, 'datasets': {
            'train': {'dataroot_gt': os.path.join(data, 'DIV2K_train_HR_sub.lmdb')},
            'val': {'dataroot_gt': os.path.join(data, 'benchmark', 'demo_val', 'HR')}}})


class Training(NamedTuple):
    """One running training: its process, the open stdout file and when it started."""
    proc: subprocess.Popen
    log: object
    began: float


def start_training(key, name, opt, switches, args):
    """Writes the run's option file (`opt`, with `switches` on) into --out and starts basicsr's trainer on it."""
    path = os.path.join(args.out, f'{name}.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(opt, f, sort_keys=False)
    log = open(os.path.join(args.out, f'{name}.stdout'), 'w')
    cmd = [sys.executable, '-m', 'igan_basicsr.train', '-opt', path] + import_arguments(args.imports)
    print(f"{key}: {' '.join(cmd)} ({' '.join(yaml_lines(switches, args.compile_backend)) or 'no switches'})",
          flush=True)
    return Training(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log, time.perf_counter())


def wait_for(trainings, start, limit):
    """Exit codes and wall seconds of the trainings; past `limit` seconds from `start` they are stopped ('stopped')."""
    codes, walls = {}, {}
    while len(codes) < len(trainings):
        for key, (proc, log, began) in trainings.items():
            if key in codes:
                continue
            if proc.poll() is not None:
                codes[key], walls[key] = proc.returncode, time.perf_counter() - began
            elif limit is not None and time.perf_counter() - start > limit:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                codes[key], walls[key] = f'stopped at --time-limit {limit:.0f} s', time.perf_counter() - began
                print(f'{key}: {codes[key]}', flush=True)
            if key in codes:
                log.close()
        time.sleep(0.5)
    return codes, walls


def train_all(runs, names, base, args):
    """Exit codes and wall seconds of the runs, trained at once or, with --sequential, one after the other (each
    then with its own --time-limit)."""
    def start(key):
        opt = training_options(base, names[key], args.data, runs[key], args)
        return start_training(key, names[key], opt, runs[key], args)

    if not args.sequential:
        return wait_for({key: start(key) for key in runs}, time.perf_counter(), args.time_limit)
    codes, walls = {}, {}
    for key in runs:
        training = start(key)
        for found, done in zip((codes, walls), wait_for({key: training}, training.began, args.time_limit)):
            found.update(done)
    return codes, walls


def read_log(path):
    """[(iteration, l_pix, seconds per iteration)] of a basicsr training log."""
    with open(path) as f:
        return [(int(m.group(1).replace(',', '')), float(m.group(4)), float(m.group(2)))
                for m in map(LOG_LINE.search, f) if m]


@torch.no_grad()
def score(network_g, weights, folders, scale, device):
    """{folder name: mean PSNR (Y, crop_border = scale)} of the weights, float32 convolutions."""
    import cv2
    from basicsr.archs import build_network
    from basicsr.metrics import calculate_psnr
    from basicsr.utils import img2tensor, tensor2img
    net = build_network(copy.deepcopy(network_g)).to(device).eval()
    net.load_state_dict(extract_state_dict(load_checkpoint(weights), weights), strict=True)
    result = {}
    with conv_precision(False, device):
        for folder in folders:
            values = []
            for name in sorted(os.listdir(os.path.join(folder, 'HR'))):
                stem = os.path.splitext(name)[0]
                hr = cv2.imread(os.path.join(folder, 'HR', name))
                lr = cv2.imread(os.path.join(folder, 'LR_bicubic', f'X{scale}', f'{stem}x{scale}.png'))
                lq = img2tensor(lr / 255., bgr2rgb=True, float32=True)[None].to(device)
                values.append(calculate_psnr(tensor2img(net(lq).cpu()), hr[:lr.shape[0] * scale, :lr.shape[1] * scale],
                                             crop_border=scale, test_y_channel=True))
            result[os.path.basename(os.path.normpath(folder))] = statistics.mean(values)
    return result


def run_result(name, network_g, folders, scale, args):
    """{'log': training-log points, 'psnr': {iteration: {set: PSNR}}} of the finished run `name`."""
    folder = os.path.join('experiments', name)
    logs = sorted(f for f in os.listdir(folder) if f.startswith('train_') and f.endswith('.log')) \
        if os.path.isdir(folder) else []
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    weights = {it: os.path.join(folder, 'models', f'net_g_{it}.pth')
               for it in range(args.ckpt_every, args.iters + 1, args.ckpt_every)}
    return {'log': read_log(os.path.join(folder, logs[-1])) if logs else [],
            'psnr': {it: score(network_g, path, folders, scale, device) for it, path in weights.items()
                     if os.path.isfile(path)}}


def compare_runs(result, args):
    """The last fifth's mean L1 of both runs, the final PSNR gap per set and whether the fast run is accepted."""
    d, f = result['runs'].get('defaults', {}), result['runs'].get('fast', {})
    tail = args.iters - args.iters // 5
    last = [statistics.mean([p[1] for p in r.get('log', []) if p[0] > tail] or [math.nan]) for r in (d, f)]
    found = {'last_fifth_loss': {'defaults': last[0], 'fast': last[1], 'from_iter': tail + 1,
                                 'relative': last[1] / last[0] - 1 if last[0] else None},
             'paired_points': sum(a[0] == b[0] for a, b in zip(d.get('log', []), f.get('log', [])))}
    dp, fp = d.get('psnr', {}).get(args.iters), f.get('psnr', {}).get(args.iters)
    if dp and fp:
        found['final_psnr_gap'] = {name: fp[name] - dp[name] for name in dp if name in fp}
    ok_psnr = bool(dp and fp) and all(gap >= -ACCEPT_DB for gap in found.get('final_psnr_gap', {}).values())
    rel = found['last_fifth_loss']['relative']
    ok_loss = rel is not None and not math.isnan(rel) and rel <= ACCEPT_LOSS
    found['accepted'] = ok_psnr and ok_loss and all(c == 0 for c in result['exit_codes'].values())
    return found


def window_means(points, width):
    """{window end: mean l_pix of the printed iterations in (end - width, end]}."""
    means = {}
    for end in range(width, max((p[0] for p in points), default=0) + 1, width):
        values = [loss for it, loss, _ in points if end - width < it <= end]
        if values:
            means[end] = statistics.mean(values)
    return means


def _cell(value, fmt):
    return '-' if value is None else format(value, fmt)


def converge_report(result, args, folders):
    """converge.md: the PSNR per checkpoint, the L1 per window, the trainer's pace and the verdict."""
    runs = result['runs']
    names = [os.path.basename(os.path.normpath(v)) for v in folders]
    lines = [f"Convergence: defaults vs fast ({' + '.join(result['fast'])}), {args.iters} iterations each, the same "
             f"seed and LMDB, basicsr's trainer ({'both at once' if result['parallel'] else 'one after the other'}"
             f"); exit codes {result['exit_codes']}.", '',
             'Fast setting, option-file lines: `' + ' | '.join(result['fast_yaml']) + '`', '',
             'Validation PSNR (dB, Y, crop_border = scale, float32 inference) of the checkpoints, on '
             f'{", ".join(names)}:',
             '', '| iteration | ' + ' | '.join(f'defaults {n} | fast {n} | fast - defaults' for n in names) + ' |',
             '|' + ' ---: |' * (1 + 3 * len(names))]
    for it in sorted(set(runs['defaults']['psnr']) | set(runs['fast']['psnr']), key=int):
        cells = []
        for n in names:
            a, b = (runs[k]['psnr'].get(it, {}).get(n) for k in ('defaults', 'fast'))
            cells += [_cell(a, '.3f'), _cell(b, '.3f'), _cell(b - a if a is not None and b is not None else None,
                                                              '+.3f')]
        lines.append(f'| {it} | ' + ' | '.join(cells) + ' |')
    width = max(args.iters // 10, args.print_freq)
    dm, fm = (window_means(runs[k]['log'], width) for k in ('defaults', 'fast'))
    lines += ['', f'Training L1 (l_pix), mean of the logged iterations (every {args.print_freq}) per {width} '
                  'iterations:', '', '| iterations | defaults | fast | fast / defaults |',
              '| ---: | ---: | ---: | ---: |']
    for end in sorted(set(dm) | set(fm)):
        a, b = dm.get(end), fm.get(end)
        lines.append(f'| {end - width + 1}-{end} | ' + (f'{a:.5f}' if a else '-') + ' | ' + (f'{b:.5f}' if b else '-')
                     + ' | ' + (f'{b / a:.4f}' if a and b else '-') + ' |')
    times = {k: statistics.median([p[2] for p in r['log']]) for k, r in runs.items() if r['log']}
    if times:
        lines += ['', 'Trainer seconds per iteration (median of the logged averages'
                  + (', both runs sharing the device: not a speed figure' if result['parallel'] else '') + '): '
                  + ', '.join(f'{k} {v:.3f}' for k, v in times.items()) + '.']
    last, gaps = result['last_fifth_loss'], result.get('final_psnr_gap', {})
    lines += ['', f"Last fifth (iterations {last['from_iter']}-{args.iters}): mean L1 defaults {last['defaults']:.5f}, "
                  f"fast {last['fast']:.5f} ({last['relative']:+.2%})." if last['relative'] is not None else '',
              'Final PSNR gap (fast - defaults): ' + (', '.join(f'{k} {v:+.3f} dB' for k, v in gaps.items()) or 'none'),
              f'Accepted when the fast run is at most {ACCEPT_DB} dB below on every set (the seed-to-seed spread '
              f'of short runs, 0.02-0.06 dB) and its last-fifth L1 at most {ACCEPT_LOSS:.0%} higher: '
              + ('**accepted**.' if result['accepted'] else '**not accepted**.')]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    parser = converge_parser()
    args, switches, base = checked_args(parser, sys.argv[1:] if argv is None else argv)
    scale = base['scale']
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    ensure_data(args.data, scale)
    folders = args.val or [os.path.join(args.data, 'benchmark', 'demo_val')]
    runs = {'defaults': frozenset(), 'fast': switches}
    names = {key: f"converge_{key}{'_tiny' if args.tiny else ''}" for key in runs}
    codes, walls = train_all(runs, names, base, args)
    print(f'trainings done in {time.perf_counter() - start:.0f} s: exit codes {codes}', flush=True)
    network_g = dict(base['network_g'], **(TINY_NET['IGAN'] if args.tiny else {}))
    result = {'fast': sorted(switches), 'fast_yaml': yaml_lines(switches, args.compile_backend), 'iters': args.iters,
              'exit_codes': codes, 'wall_s': walls, 'parallel': not args.sequential,
              'runs': {key: run_result(names[key], network_g, folders, scale, args) for key in runs}}
    result.update(compare_runs(result, args))
    with open(os.path.join(args.out, 'converge.json'), 'w') as f:
        json.dump(result, f, indent=1)
    text = converge_report(result, args, folders)
    with open(os.path.join(args.out, 'converge.md'), 'w') as f:
        f.write(text)
    print('\n' + text)
    return 0 if all(c == 0 for c in codes.values()) else 1


if __name__ == '__main__':
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
