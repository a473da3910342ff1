"""Equal-budget training comparison: the same data, iterations and seed for every model, then one table.

    python scripts/comparison/budget_compare.py --base options/compare/budget_train_x4.yml \
        options/compare/small/IGAN_growth_x4.yml options/compare/small/RCAN_x4.yml ... \
        --seeds 10 11 --benchmark datasets/demo/benchmark/demo_val --out results/budget_x4

Each listed option file is laid over --base (its top-level keys win: name, network_g, ...; `path` is --base's,
so every model trains from scratch, the ready-made peers in options/compare/ included), trained with the
real basicsr trainer (`python -m igan_basicsr.train`) once per seed, then evaluated on the benchmark folders
(`<Name>/HR`, `<Name>/LR_bicubic/X<scale>`) through basicsr's validation. All runs must share datasets.train
and train.total_iter. Writes budget.md, budget.csv and budget.png to --out; training logs go to --out/logs.

The table has a Bicubic row (MATLAB bicubic of the same LR images) and, for every model and benchmark, the paired
per-image PSNR difference to the reference model (--reference, default the first option file; each image's PSNR
averaged over the seeds first) with its 95% bootstrap interval (10000 resamples of the images, seed 0) and the
seeds' spread of that difference; per_image.csv beside it holds every image's PSNR for every run. --train-root
trains every model on the LMDBs scripts/data_preparation/prepare_div2k_lmdb.py wrote (e.g. from train291);
--curve-every N has basicsr validate every run on the benchmarks each N iterations (curves.csv, curves.png).
--jobs N trains N at once (on a CPU, give each its own threads: OMP_NUM_THREADS=cores/N). A training (or its
scoring) that fails ends the comparison with its log and no table: runs not yet started are skipped, runs in
progress finish.
"""
import argparse
import copy
import hashlib
import itertools
import os
import re
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime
from typing import NamedTuple

import yaml
from tqdm import tqdm

from igan_basicsr.atomic import replacing
from igan_basicsr.checkpoints import CheckpointError, load_checkpoint
from igan_basicsr.comparison.budget_report import SWITCHES, Budget, add_result, mean_psnr, write_report
from igan_basicsr.comparison.curves import Curve, read_curves, tb_folder, with_validation
from igan_basicsr.comparison.measure import (
    BICUBIC,
    MeasureFailed,
    benchmark_dataset,
    bicubic_option_file,
    measure,
    parse_size,
)
from igan_basicsr.models import has_switches
from igan_basicsr.options import OptionError, check_model_options, read_option_file
from igan_basicsr.plugins import PluginError, add_import_argument, import_arguments, load_plugins
from igan_basicsr.prepare.div2k_lmdb import hr_lmdb_name, lr_lmdb_name

# basicsr's log format: '%(asctime)s %(levelname)s: %(message)s'.
LOG_LINE = r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO: (.*)$'


class Run(NamedTuple):
    """One training of the comparison: the model (its row's name), its option file, the seed, and the options it
    trains with (the file laid over --base)."""
    name: str
    option_file: str
    seed: int
    opt: dict


class RunPlan(NamedTuple):
    """What every run shares besides --base: the training data of --train-root (None: --base's), and the
    benchmark folders basicsr validates on every `curve_every` iterations (None: never)."""
    train_root: str = None
    benchmarks: tuple = ()
    curve_every: int = None


def with_iterations(train, iters):
    """`train` stretched to `iters` iterations: the scheduler's milestones/periods scale with it."""
    scheduler = dict(train.get('scheduler') or {})
    total = train.get('total_iter')
    if total:
        if 'milestones' in scheduler:
            scheduler['milestones'] = [round(v * iters / total) for v in scheduler['milestones']]
        if 'periods' in scheduler:
            # The periods' ends are scaled, not each period: rounded one by one they could fall short of
            # total_iter, and basicsr's restart scheduler fails on an iteration past its last period.
            ends = [round(end * iters / total) for end in itertools.accumulate(scheduler['periods'])]
            scheduler['periods'] = [b - a for a, b in zip([0] + ends, ends)]
    return dict(train, total_iter=iters, scheduler=scheduler)


def run_tag(out_dir):
    """Short tag of --out for the runs' experiment names. basicsr keeps a run's checkpoints under
    experiments/<name>/ and archives that folder when a run of the same name starts: without the tag, a comparison
    written elsewhere (another --iters, another schedule) took over the folder, and --reuse of the first one then
    scored the other comparison's weights under its own, unchanged logs."""
    return hashlib.sha1(os.path.abspath(out_dir).encode()).hexdigest()[:6]


def merged_runs(base_path, option_files, seeds, iters=None, tag=None, switches=(), plan=RunPlan()):
    """A Run for every file and seed, seed by seed; all problems reported at once.
    Runs are named budget_<model>_seed<seed>, with _<tag> appended when given. With `switches` (keys of SWITCHES),
    every model trains with them on: SRModel files through SwitchSRModel (SRModel with the switches)."""
    problems, runs = [], []
    try:
        base = read_option_file(base_path) if base_path else {}
    except OptionError as err:
        raise OptionError(f'--base {err}') from None
    for path in option_files:
        try:
            opt = merged_options(base, path, iters, switches, plan)
        except OptionError as err:
            problems.append(str(err))
            continue
        for seed in seeds:
            run = copy.deepcopy(opt)
            run.update(name=f"budget_{opt['name']}_seed{seed}" + (f'_{tag}' if tag else ''), manual_seed=seed)
            runs.append(Run(opt['name'], path, seed, run))
    # Seed by seed: a run cut short still leaves every model trained with the first seed.
    runs.sort(key=lambda r: seeds.index(r.seed))
    problems += unequal_budgets(runs, seeds)
    if problems:
        raise OptionError('\n'.join(dict.fromkeys(problems)))
    return runs


def merged_options(base, path, iters=None, switches=(), plan=RunPlan()):
    """The option file at `path` laid over `base` as one model of the comparison trains it (no seed, no run name
    yet; the training data and validation of `plan`), or OptionError naming the file."""
    own = read_option_file(path)
    # The name is the file's own, never --base's: it labels the row.
    opt = dict(copy.deepcopy(base), **own)
    opt['name'] = own.get('name') or os.path.splitext(os.path.basename(path))[0]
    # Every model starts from scratch: a peer file's path section names the released weights it is
    # tested with (options/compare/*.yml), which must not give it a head start here.
    opt['path'] = copy.deepcopy(base.get('path') or {})
    check_model_options(opt, path)
    missing = [key for key in ('datasets', 'train') if not isinstance(opt.get(key), dict)]
    if missing or not isinstance(opt['datasets'].get('train'), dict):
        raise OptionError(f'{path}: no datasets.train or train section (in the file or in --base).')
    if iters:
        opt['train'] = with_iterations(opt['train'], iters)
    if switches:
        # The same switches for every model, the peers included: a speed-up for one side only would not change
        # the iterations, but it would make the runs' minutes incomparable.
        model_type = opt.get('model_type', 'SRModel')
        if model_type != 'SRModel' and not has_switches(model_type):
            flags = ' and '.join(f"--{name.replace('_', '-')}" for name in switches)
            raise OptionError(f"{path}: with {flags} every model trains with the switches of SwitchSRModel; "
                              f"model_type {model_type!r} is neither SRModel nor a SwitchSRModel.")
        # A file's own compile arguments (e.g. compile: {mode: max-autotune}) are kept.
        opt.update(model_type='SwitchSRModel' if model_type == 'SRModel' else model_type,
                   **{name: opt.get(name) or True for name in switches})
    # Evaluation happens after training, under one protocol for every model; validation while training only for
    # the learning curves, under the same protocol.
    opt['datasets'] = {'train': opt['datasets']['train']}
    opt.pop('val', None)
    if plan.train_root:
        opt['datasets']['train'] = lmdb_train_set(opt['datasets']['train'], plan.train_root, opt['scale'])
    if plan.curve_every:
        datasets = [benchmark_dataset(folder, opt['scale']) for folder in plan.benchmarks]
        opt = with_validation(opt, datasets, plan.curve_every)
    return opt


def lmdb_train_set(train, root, scale):
    """datasets.train `train` (its patch size, batch, augmentation ...) reading the HR and x`scale` LMDBs that
    prepare_div2k_lmdb.py wrote to `root`, or OptionError saying how to write them."""
    lmdbs = [os.path.join(root, hr_lmdb_name()), os.path.join(root, lr_lmdb_name(scale))]
    for lmdb in lmdbs:
        if not os.path.isfile(os.path.join(lmdb, 'data.mdb')):
            raise OptionError(f'--train-root {root}: no LMDB {lmdb}; write it with python scripts/data_preparation/'
                              f'prepare_div2k_lmdb.py --root {root} --scales {scale} (HR images in '
                              f'{os.path.join(root, "DIV2K_train_HR")}).')
    train = {k: v for k, v in train.items() if k != 'meta_info_file'}
    return dict(train, name=os.path.basename(os.path.normpath(root)), dataroot_gt=lmdbs[0], dataroot_lq=lmdbs[1],
                filename_tmpl='{}', io_backend={'type': 'lmdb'})


def unequal_budgets(runs, seeds):
    """The problems that make `runs` no equal-budget comparison: training data or iterations that differ from the
    first run's, two files naming one model."""
    problems = []
    if runs:
        first = runs[0]
        for run in runs:
            for section, key in (('datasets', 'train'), ('train', 'total_iter')):
                if run.opt[section].get(key) != first.opt[section].get(key):
                    problems.append(f"{run.option_file}: {section}.{key} differs from {first.option_file}'s; an "
                                    'equal-budget comparison needs the same training data and iterations (put them '
                                    'in --base).')
    names = [r.name for r in runs]
    problems += [f'two option files are both named {n!r}.' for n in sorted(set(names)) if names.count(n) > len(seeds)]
    return problems


def run_files(run_opt, out_dir):
    """(option file, log, checkpoint) of one run."""
    logs = os.path.join(out_dir, 'logs', run_opt['name'])
    return f'{logs}.yml', f'{logs}.log', os.path.join('experiments', run_opt['name'], 'models', 'net_g_latest.pth')


class TrainingFailed(RuntimeError):
    """A training subprocess that exited with an error; the message names the run and its log."""


def same_options(opt_path, run_opt):
    if not os.path.isfile(opt_path):
        return False
    with open(opt_path) as f:
        return yaml.safe_load(f) == run_opt


def training_seconds(log_text):
    """Seconds of training in a run's log, summed over its attempts: each from basicsr's "Start training" line to
    its "End of training" line or, for an attempt cut short, to its last "Saving models and training states."
    (the state the next attempt resumed from; the iterations after it were trained again and count there).
    An attempt that starts at iteration 0 found no state: what came before it is not counted."""
    attempts = []  # [start, end] of each attempt still counted
    for stamp, message in re.findall(LOG_LINE, log_text, flags=re.M):
        when = datetime.strptime(stamp, '%Y-%m-%d %H:%M:%S,%f')
        if message.startswith('Start training from epoch'):
            if message.endswith('iter: 0'):
                attempts = []
            attempts.append([when, None])
        elif attempts and message.startswith(('Saving models and training states.', 'End of training.')):
            attempts[-1][1] = when
    return sum((end - start).total_seconds() for start, end in attempts if end is not None)


def finished_run(run_opt, out_dir):
    """(option file, checkpoint, training seconds) of an earlier run with exactly these options that ran to the
    end, else None: a comparison cut short (a CPU run takes hours) goes on where it stopped."""
    opt_path, log_path, weights = run_files(run_opt, out_dir)
    if not (os.path.isfile(log_path) and same_options(opt_path, run_opt)):
        return None
    with open(log_path) as f:
        log_text = f.read()
    if 'End of training.' not in log_text:
        return None
    try:
        # basicsr logs "End of training" before it writes net_g_latest.pth (not atomically): a run killed while
        # saving leaves a truncated file behind that line.
        load_checkpoint(weights)
    except CheckpointError:
        return None
    return opt_path, weights, training_seconds(log_text)


def train(run_opt, out_dir, resume=False, imports=(), timeout=None):
    """Train with basicsr in a subprocess; returns (option file written, checkpoint, training seconds). With
    `resume`, an earlier run of the same options that was cut short goes on from its newest training state
    (basicsr's --auto_resume; it starts afresh where there is none) and its log is continued. The trainer loads
    the modules `imports` (--import) besides the announced plugins; past `timeout` seconds it is killed
    (subprocess.TimeoutExpired)."""
    opt_path, log_path, weights = run_files(run_opt, out_dir)
    resume = resume and os.path.isfile(log_path) and same_options(opt_path, run_opt)
    os.makedirs(os.path.dirname(opt_path), exist_ok=True)
    # Written whole or not at all: --reuse compares it with the options of the next call.
    with replacing(opt_path) as partial, open(partial, 'w') as f:
        yaml.safe_dump(run_opt, f, sort_keys=False)
    with open(log_path, 'a' if resume else 'w') as log:
        cmd = [sys.executable, '-m', 'igan_basicsr.train', '-opt', opt_path] + ['--auto_resume'] * resume
        cmd += import_arguments(imports)
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
    with open(log_path) as f:
        log_text = f.read()
    if proc.returncode != 0:
        raise TrainingFailed(f"training {run_opt['name']} failed (exit {proc.returncode}); log {log_path}:\n"
                           f'{log_text[-3000:]}')
    return opt_path, weights, training_seconds(log_text)


def parse_arguments(argv):
    """(parser, arguments) of the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('options', nargs='+', help='option files, each laid over --base')
    parser.add_argument('--base', help='shared training options (data, schedule, iterations)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[10, 11], help='manual_seed of each round')
    parser.add_argument('--benchmark', action='append', required=True,
                        help='<Name> folder with HR/ and LR_bicubic/X<scale>/; repeatable')
    parser.add_argument('--size', type=parse_size, default=(320, 180), help='LR input WIDTHxHEIGHT for FLOPs')
    parser.add_argument('--out', default='results/budget', help='output folder (default results/budget)')
    parser.add_argument('--iters', type=int,
                        help='train this many iterations instead of train.total_iter (lr milestones scale along)')
    parser.add_argument('--reuse', action='store_true',
                        help='keep the runs of an earlier call with the same --out and identical options that trained '
                        'to the end, and resume those cut short from their newest training state')
    parser.add_argument('--channels-last', action='store_true',
                        help='train every model NHWC through SwitchSRModel\'s channels_last switch (speed-ups: README, '
                        'Speed options)')
    parser.add_argument('--compile', action='store_true',
                        help='train every model torch.compile\'d through SwitchSRModel\'s compile switch; it compiles '
                        'each time a run starts or resumes, and again to score it')
    parser.add_argument('--jobs', type=int, default=1,
                        help='trainings at once (default 1); give each CPU threads of its own, e.g. OMP_NUM_THREADS=1')
    parser.add_argument('--train-root',
                        help='train every model on the LMDBs prepare_div2k_lmdb.py wrote to this folder (its --root '
                        "or --out) instead of --base's datasets.train data; the patch size, batch and augmentation "
                        'stay those of --base')
    parser.add_argument('--curve-every', type=int, metavar='N',
                        help='validate every run on the --benchmark sets each N iterations (basicsr\'s val_freq) and '
                        'write the learning curves: curves.csv and curves.png')
    parser.add_argument('--reference', help='model name the paired differences are taken against (default: the '
                        'first option file\'s model)')
    add_import_argument(parser)
    args = parser.parse_args(argv)
    if args.jobs < 1 or any(v is not None and v < 1 for v in (args.iters, args.curve_every)):
        parser.error('--jobs, --iters and --curve-every must be at least 1')
    return parser, args


def planned_runs(parser, args, tag):
    """(runs, switches): every run of the comparison (merged_runs), its benchmarks and reference checked, the
    plugins loaded; exits 2 naming every problem before anything trains."""
    try:
        load_plugins(args.imports)
        switches = tuple(name for name in SWITCHES if getattr(args, name))
        plan = RunPlan(args.train_root, tuple(args.benchmark), args.curve_every)
        runs = merged_runs(args.base, args.options, args.seeds, args.iters, tag, switches, plan)
        for scale in sorted({r.opt['scale'] for r in runs}):
            for folder in args.benchmark:
                benchmark_dataset(folder, scale)
    except (OptionError, PluginError) as err:
        parser.exit(2, f'{parser.prog}: error: {err}\n')
    names = list(dict.fromkeys(r.name for r in runs))
    if (args.reference or names[0]) not in names:
        parser.exit(2, f"{parser.prog}: error: --reference {args.reference}: no option file names a model "
                    f"{args.reference!r}; the models: {', '.join(names)}.\n")
    return runs, switches


class Scored(NamedTuple):
    """A run trained (or reused) and scored: the training seconds, measure's result, and its learning curves."""
    run: Run
    seconds: float
    result: dict
    curves: list


def train_and_score(run, args):
    """One run trained (or reused with --reuse) and scored, as Scored."""
    merged_path, weights, seconds = ((args.reuse and finished_run(run.opt, args.out))
                                     or train(run.opt, args.out, resume=args.reuse, imports=args.imports))
    found = read_curves(tb_folder(run.opt['name'])) if args.curve_every else {}
    curves = [Curve(run.name, run.seed, dataset, points) for dataset, points in found.items()]
    return Scored(run, seconds, measure(merged_path, args.size, 0, args.benchmark, weights=weights,
                                        imports=args.imports), curves)


def train_and_score_all(runs, args):
    """Every run trained (or reused) and scored (Scored), `args.jobs` at a time, and the first TrainingFailed or
    MeasureFailed (None when every run finished)."""
    # Set by the first failed training: the runs not started by then are skipped instead of training for hours
    # before the failure is reported; the runs in progress finish (a later call with --reuse keeps them).
    stop = threading.Event()

    def run_unless_stopped(run):
        if stop.is_set():
            return None
        try:
            return train_and_score(run, args)
        except (TrainingFailed, MeasureFailed):
            stop.set()
            raise

    done, failed = [], None
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_unless_stopped, run) for run in runs]
        for future in tqdm(as_completed(futures), total=len(runs), desc='training runs', unit='run'):
            try:
                scored = future.result()
            except (TrainingFailed, MeasureFailed) as err:
                if failed is None:
                    failed = err
                    tqdm.write(f"{str(err).splitlines()[0].rstrip(':')}. The runs not started are skipped; "
                               'those in progress finish first.')
                continue
            if scored is not None:
                done.append(scored)
                run, mean = scored.run, mean_psnr(scored.result)
                tqdm.write(f'{run.name} seed {run.seed}: {mean:.3f} dB mean PSNR, {scored.seconds / 60:.1f} min')
    return done, failed


def add_bicubic(rows, args, scales):
    """A Bicubic row per scale (one measure each; the same scores for every seed: nothing is trained)."""
    with tempfile.TemporaryDirectory() as folder:
        for scale in scales:
            r = measure(bicubic_option_file(folder, scale), args.size, 0, args.benchmark, imports=args.imports)
            for seed in args.seeds:
                add_result(rows, BICUBIC if len(scales) == 1 else f'{BICUBIC} x{scale}', seed, r)


def main(argv=None):
    parser, args = parse_arguments(argv)
    tag = run_tag(args.out)
    runs, switches = planned_runs(parser, args, tag)
    done, failed = train_and_score_all(runs, args)
    if failed:
        parser.exit(1, f'{parser.prog}: error: {failed}\nNo table written; fix the run and call again with --reuse '
                    'to keep the runs that finished.\n')

    rows = {}
    for scored in sorted(done, key=lambda d: runs.index(d.run)):
        add_result(rows, scored.run.name, scored.run.seed, scored.result, scored.seconds)
    add_bicubic(rows, args, sorted({r.opt['scale'] for r in runs}))
    budget = Budget(runs[0].opt, args.seeds, args.size, args.jobs, args.curve_every, switches, tag)
    benches = [os.path.basename(b.rstrip('/')) for b in args.benchmark]
    print(write_report(args.out, budget, list(rows.values()), args.reference or runs[0].name, benches,
                       [c for scored in done for c in scored.curves]))
    written = 'budget.md, budget.csv, per_image.csv' + (', curves.csv, curves.png' if args.curve_every else '')
    print(f'wrote {written} and budget.png to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
