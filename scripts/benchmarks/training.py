"""Training-step speed of option files' networks under the speed switches: built by basicsr's build_model through
SwitchSRModel (IGANModel only adds checkpoint loading to it), stepped by optimize_parameters on a random batch.

    python -m scripts.benchmarks.training speed --profile --out results/train_speed     # CUDA: IGAN x4 and RCAN
    python -m scripts.benchmarks.training speed --tiny --device cpu --out /tmp/ts      # small, on CPU
    python -m scripts.benchmarks.training switches options/compare/tiny/{IGAN_growth,RCAN,EDSR}_x4.yml \\
        --batch 8 --patch 16 --variants channels_last        # without option files: the IGAN file's at 4x4
    python -m scripts.benchmarks.training switches options/compare/RCAN_x4.yml options/train_IGAN_x4.yml \\
        --variants --batch 2 --test-size 48x48               # IGAN's time per FLOP against RCAN's

speed (default: the IGAN and RCAN files above) times one variant after another: --warmup steps (the first,
compilation included, reported), then the median of --steps; the eager variants first, then the compiled ones,
the first model's defaults again after each kind (drift). cudnn.benchmark is on, as in basicsr's trainer.
train_speed.json's 'best' is the first model's fastest combination (converge --fast-from reads it). switches builds
every model's variants, then times one training step of each per round, then one inference (test()). FLOPs:
FlopCounterMode on one eager step. A variant is switches joined by '+'; 'defaults' is none of them (PyTorch's):
"""
import contextlib
import gc
import json
import os
import sys
import tempfile
import time
from typing import NamedTuple
from unittest import mock

import torch
from basicsr.models import build_model

from igan_basicsr.comparison.measure import device_name, parse_size, sync
from igan_basicsr.comparison.report import write_table
from igan_basicsr.models.precision import conv_precision
from igan_basicsr.options import load_model_options
from igan_basicsr.plugins import add_import_argument, load_plugins
from scripts.benchmarks import common
from scripts.benchmarks.common import DEFAULTS, Refusal, Variant

# speed's first model: the eager variants, then the compiled ones in the order a --budget cuts last: per block first
# (a fraction of the whole network's compile time), then CUDA graphs (the H200's eager step was not bound by its
# convolutions: bf16 was slower). The later models get OTHER_VARIANTS.
VARIANTS = ['fp32', 'bf16', 'channels_last', 'fused', 'bf16+channels_last', 'bf16+channels_last+fused',
            'bf16+channels_last+fused+compile-ro+regional', 'bf16+channels_last+fused+compile+regional',
            'bf16+channels_last+fused+compile-ro', 'bf16+channels_last+fused+compile', 'compile-ro', 'compile']
OTHER_VARIANTS = ['fp32', 'bf16+channels_last+fused']
SWITCH_VARIANTS = {'cpu': ['channels_last', 'bf16', 'compile', 'channels_last+compile']}
SWITCH_VARIANTS['cuda'] = SWITCH_VARIANTS['cpu'] + ['fp16', 'bf16+channels_last+compile']
SWITCH_DEFAULT = {'IGAN': {'num_group': 4, 'num_block': 4}}  # switches without option files: the IGAN file's, 4x4
# speed's sizes: help, paper size, --tiny.
SIZES = {'batch': ('training batch', 16, 2), 'patch': ('LR patch side', 48, 16),
         'steps': ('timed steps per variant, median', 20, 3), 'warmup': ('steps before timing', 5, 2)}
# Dense tensor-core peaks by device name (vendor datasheets, TFLOP/s) per precision of a row's convolutions (fp16's
# dense peak is bf16's on each of these).
PEAKS = (('H200', {'bf16': 989.0, 'tf32': 494.0, 'fp32': 67.0}),
         ('H100 PCIe', {'bf16': 756.0, 'tf32': 378.0, 'fp32': 51.0}),
         ('H100', {'bf16': 989.0, 'tf32': 494.0, 'fp32': 67.0}),
         ('A100', {'bf16': 312.0, 'tf32': 156.0, 'fp32': 19.5}))
PAPER_ITERS = 800_000
AGAIN = 'again (drift check; not the reference)'
DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'


# ------------------------------------------------------------------------------------------- the timing core
class Model(NamedTuple):
    """A network to time: its row label, basicsr's network_g, the scale and a description for the notes."""
    name: str
    network_g: dict
    scale: int
    description: str
    path: str


def load_models(paths, sizes=None):
    """The Models of the option files `paths`, network_g updated by `sizes[its type]`; Refusal naming every file
    that cannot be built."""
    loaded, problems = load_model_options(paths)
    if problems:
        raise Refusal('; '.join(problems))
    models = []
    for path, opt in loaded:
        net = dict(opt['network_g'], **(sizes or {}).get(opt['network_g']['type'], {}))
        shape = ', '.join(f'{k} {net[k]}' for k in ('num_feat', 'num_group', 'num_block') if k in net)
        models.append(Model(opt['name'], net, opt['scale'], f"{opt['name']} x{opt['scale']} ({path}: {shape})", path))
    return models


def parse_variants(names, defaults, device):
    """The defaults, then the variants `names` (None: those of `defaults` that `device` runs), each once; Refusal
    with what to write instead."""
    if names is None:
        names = [n for n in defaults if device == 'cuda' or not set(n.split('+')) & set(common.CUDA_ONLY)]
    for name in names:
        if name.endswith(('.yml', '.yaml')) or os.path.isfile(name):
            raise Refusal(f'{name!r} is an option file, not a variant: put the option files before --variants.')
        if name == DEFAULTS:
            raise Refusal(f'{name!r}: the defaults are always timed; name only the switches to compare with them.')
    return list({v.combo(): v for v in [Variant()] + [common.parse_variant(n, device) for n in names]}.values())


def configure_torch():
    """Room for every compiled model of a run, past which torch.compile would fall back to eager without a word."""
    import torch._dynamo.config as dynamo_config  # binds the alias only; `import torch._dynamo` would make torch local
    torch.compiler.reset()  # no graph of earlier work hides a variant's compile time
    for name, value in (('recompile_limit', 64), ('cache_size_limit', 64), ('accumulated_recompile_limit', 4096),
                        ('accumulated_cache_size_limit', 4096)):
        if hasattr(dynamo_config, name):
            setattr(dynamo_config, name, value)


class Calls(NamedTuple):
    """A built model's timed calls: one optimize_parameters and one test()."""
    train: object
    infer: object


def build(model, variant, args, data, image=None):
    """The Calls of `model` built with `variant`'s switches on (seeded alike for every variant), on the training
    batch `data` and the inference input `image`."""
    top, train, val = common.switch_options(variant.switches, common.ADAM, args.compile_backend)
    torch.manual_seed(0)
    net = build_model(common.train_options(model.network_g, model.scale, device=args.device, train=train, val=val,
                                           **top))

    def call(batch, run):  # TF32 convolutions (PyTorch's default on CUDA) unless fp32, per call: switches alternates
        def timed():
            with conv_precision('fp32' not in variant.switches, args.device):
                net.feed_data(batch)
                run()
        return timed
    return Calls(call(data, lambda: net.optimize_parameters(1)), call(image, net.test))


def parser_of(prog, description, files, variants, out):
    """A command's parser with the arguments both take."""
    parser = common.OneLineParser(prog=prog, description=description)
    parser.add_argument('options', nargs='*', help=f'option files whose network_g and scale are timed ({files})')
    parser.add_argument('--variants', nargs='*', metavar='VARIANT', help='variants besides the defaults (default: '
                        f"{' '.join(variants)}; on CPU those that run there)")
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=DEVICE)
    parser.add_argument('--compile-backend', default='inductor', help="torch.compile backend of the compile "
                        "variants (default inductor; 'eager' only checks the path, e.g. in CPU tests)")
    parser.add_argument('--out', default=out, help=f'folder for the tables (default {out})')
    add_import_argument(parser)
    return parser


# ------------------------------------------------------------------------------------------------------ speed
class Job(NamedTuple):
    """One variant of one model to time, and its row's note."""
    model: Model
    variant: Variant
    note: str = ''


def jobs(models, variants, others):
    """The Jobs in the order timed: the eager variants, the first model's defaults again, the compiled variants
    (a --budget cuts these first: each compiles for minutes on a GPU), the defaults again."""
    listed = [Job(m, v) for i, m in enumerate(models) for v in (others if i else variants)]
    again = Job(models[0], Variant(), AGAIN)
    return [j for j in listed if not j.variant.compiled] + [again] + [j for j in listed if j.variant.compiled] + [again]


@contextlib.contextmanager
def cold_compile_cache():
    """An empty inductor cache on disk (and Triton's, unless TRITON_CACHE_DIR is set) for one compiled variant,
    removed after it: its first step compiles from nothing, as a user's first run does, instead of loading what
    an earlier run or variant cached. Inductor reads TORCHINDUCTOR_CACHE_DIR at each compilation."""
    with tempfile.TemporaryDirectory(prefix='igan_compile_cache_') as directory, \
            mock.patch.dict(os.environ, TORCHINDUCTOR_CACHE_DIR=directory):
        yield directory


def time_steps(step, args):
    """first_step_s (compilation included), ms: the median of --steps after --warmup steps, peak_mem_gib (CUDA)."""
    if args.device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    timed = {'first_step_s': common.interleaved_medians({'': step}, 1, args.device)['']}
    for _ in range(args.warmup - 1):
        step()
    timed['ms'] = common.interleaved_medians({'': step}, args.steps, args.device)[''] * 1000
    if args.device == 'cuda':
        timed['peak_mem_gib'] = torch.cuda.max_memory_allocated() / 2**30
    return timed


def time_job(job, args, flops, refs, profiles):
    """The row of one Job: timed, or what made it fail (the run goes on to the next)."""
    model, variant = job.model, job.variant
    row = {'model': model.name, 'variant': variant.combo(), 'precision': variant.precision(args.device),
           'switches': sorted(variant.switches), 'note': job.note}
    data = {k: v.to(args.device) for k, v in common.random_batch(args.batch, args.patch, model.scale).items()}
    try:
        with cold_compile_cache() if variant.compiled else contextlib.nullcontext():
            step = build(model, variant, args, data).train
            if model.name not in flops:
                flops[model.name] = common.flops_of(step)
            row.update(time_steps(step, args))
            if args.profile:
                profiles.append(profile_text(step, args.device, f"{model.name} {row['variant']}", row['ms']))
    except Exception as err:  # a variant that fails is a row that says so, not the end of the run
        row['note'] = '; '.join(filter(None, [job.note, f'failed: {type(err).__name__}: {str(err).strip()[:200]}']))
        return row
    seconds = row['ms'] / 1000
    peak = next((p['bf16' if row['precision'] == 'fp16' else row['precision']] for key, p in PEAKS
                 if key in args.label), None)
    if not variant.switches:
        refs.setdefault(model.name, seconds)  # the model's first defaults row is its reference
    row.update(patches_s=args.batch / seconds, speedup=refs[model.name] / seconds if model.name in refs else None,
               gflop=flops[model.name] / 1e9, tflops_s=flops[model.name] / seconds / 1e12,
               paper_hours=seconds * PAPER_ITERS / 3600)
    row['peak_fraction'] = row['tflops_s'] / peak if peak else None
    return row


def profile_text(step, device, label, step_ms, top=15):
    """torch.profiler's table of the `top` operators and kernels by self time on `device`, two calls of `step`."""
    from torch.profiler import ProfilerActivity, profile
    try:
        with profile(activities=[ProfilerActivity.CPU] + [ProfilerActivity.CUDA] * (device == 'cuda')) as prof:
            for _ in range(2):
                step()
            sync(device)
        table = prof.key_averages().table(sort_by=f"self_{'device' if device == 'cuda' else 'cpu'}_time_total",
                                          row_limit=top)
    except Exception as err:  # the timing stands without it
        table = f'profiling failed: {type(err).__name__}: {str(err).strip()[:300]}'
    return f'{label} ({step_ms:.2f} ms a step unprofiled): 2 steps under torch.profiler\n{table.rstrip()}'


def best_of(rows, model, compile_backend):
    """The fastest timed combination of `model` (the drift checks aside) with its option-file lines, or None."""
    timed = [r for r in rows if r['model'] == model and 'ms' in r and r['note'] != AGAIN]
    best = min(timed, key=lambda r: r['ms'], default=None)
    return best and {k: best[k] for k in ('model', 'variant', 'switches', 'ms', 'patches_s', 'speedup')} | {
        'yaml': common.yaml_lines(best['switches'], compile_backend)}


SPEED_COLUMNS = [('model', 'model', None), ('variant', 'variant', None), ('ms', 'ms/step', '.2f'),
                 ('patches_s', 'patches/s', '.1f'), ('speedup', 'speed-up', '.2f'), ('gflop', 'GFLOP/step', '.1f'),
                 ('tflops_s', 'TFLOP/s', '.2f'), ('precision', 'precision', None), ('peak_fraction', 'of peak', '.1%'),
                 ('paper_hours', '800k iters (h)', '.1f'), ('first_step_s', 'first step (s)', '.1f'),
                 ('peak_mem_gib', 'peak mem (GiB)', '.1f'), ('note', 'note', None)]


def speed_args(prog, argv):
    """speed's arguments, the sizes filled in, its Models and variants; one line and exit 2 for what cannot run."""
    parser = parser_of(prog, "Training-step speed of option files' networks under the switches, one variant after "
                       'another.', f'default {common.IGAN_OPT} {common.RCAN_OPT}; the first one\'s variants are '
                       f"--variants, the others' {' '.join(OTHER_VARIANTS)}", VARIANTS, 'results/train_speed')
    for key, (text, paper, tiny) in SIZES.items():
        parser.add_argument(f'--{key}', type=int, help=f'{text} (default {paper}; tiny {tiny})')
    parser.add_argument('--tiny', action='store_true', help=f'the tiny sizes; IGAN and RCAN at {common.TINY_NET}')
    parser.add_argument('--budget', type=float, help='seconds after which no variant is started (skipped rows say so)')
    parser.add_argument('--profile', action='store_true', help="each variant's top kernels into OUT/profile.txt")
    args = parser.parse_intermixed_args(argv)
    with parser.refusing():
        load_plugins(args.imports)
        for key, (_, paper, tiny) in SIZES.items():
            setattr(args, key, (tiny if args.tiny else paper) if getattr(args, key) is None else getattr(args, key))
        common.check_positive(args, *SIZES)
        if args.budget is not None and not args.budget >= 0:  # nan included
            raise Refusal(f'--budget must not be negative, got {args.budget}.')
        variants, others = (parse_variants(names, defaults, args.device) for names, defaults in
                            ((args.variants, VARIANTS), (None, OTHER_VARIANTS)))
        models = load_models(args.options or [common.IGAN_OPT, common.RCAN_OPT], args.tiny and common.TINY_NET)
        common.check_run(args.device, args.compile_backend, {m.path: m.network_g for m in models})
    return args, models, variants, others


def speed_notes(args, models):
    cuda = f' (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})' if args.device == 'cuda' else ''
    return [f"{args.label}; torch {torch.__version__}{cuda}; {'; '.join(m.description for m in models)}.",
            f'optimize_parameters on batch {args.batch} of {args.patch}x{args.patch} LR patches kept on the device; '
            f'median of {args.steps} steps after {args.warmup} (the first reported; in a model\'s first row the FLOP '
            'count took one step before it), one variant after another.'
            + (f' torch.compile backend: {args.compile_backend}.' if args.compile_backend != 'inductor' else ''),
            "speed-up: the model's first defaults time / time. FLOPs: FlopCounterMode on one eager step. of peak: of "
            f"the dense datasheet peak in the row's precision. 800k iters (h): ms/step x {PAPER_ITERS}."]


def speed(prog, argv):
    """The speed command: OUT/train_speed.md/.csv/.json (and profile.txt), rewritten after each row."""
    args, models, variants, others = speed_args(prog, argv)
    configure_torch()
    torch.backends.cudnn.benchmark = True  # as basicsr's train_pipeline sets it
    args.label = device_name(args.device)
    meta = {'device': args.label, 'args': vars(args), 'notes': speed_notes(args, models)}
    rows, flops, refs, profiles, start = [], {}, {}, [], time.perf_counter()
    for job in jobs(models, variants, others):
        if args.budget is not None and time.perf_counter() - start > args.budget:
            rows.append({'model': job.model.name, 'variant': job.variant.combo(),
                         'note': f'skipped: the --budget of {args.budget:g} s was spent'})
        else:
            rows.append(time_job(job, args, flops, refs, profiles))
            gc.collect()  # the model goes before the next one is built
            torch.cuda.empty_cache()
        row = rows[-1]
        print(f"{row['model']} {row['variant']}: {row['ms']:.2f} ms/step" if 'ms' in row else row['note'], flush=True)
        text = write_table(args.out, 'train_speed', SPEED_COLUMNS, rows, meta['notes'])
        meta['best'] = best_of(rows, models[0].name, args.compile_backend)
        with open(os.path.join(args.out, 'train_speed.json'), 'w') as f:
            json.dump(dict(meta, rows=rows), f, indent=1)
        if profiles:
            with open(os.path.join(args.out, 'profile.txt'), 'w') as f:
                f.write('\n\n'.join(profiles) + '\n')
    print('\n'.join([''] + profiles + [text]))
    best = meta['best']
    if best:
        lines = '\n'.join(best['yaml']) or 'none (the defaults were the fastest)'
        print(f"fastest {best['model']}: {best['variant']}, {best['ms']:.2f} ms/step; option-file lines:\n{lines}")
    return 0


# --------------------------------------------------------------------------------------------------- switches
def switches_args(prog, argv):
    """switches' arguments, Models and variants; one line and exit 2 for what cannot run."""
    parser = parser_of(prog, "SwitchSRModel's speed switches against each model's defaults: training step and "
                       'inference, every model and variant in turns.', f'default: {common.IGAN_OPT} at '
                       f"{SWITCH_DEFAULT['IGAN']}", SWITCH_VARIANTS[DEVICE], 'results/speed_options')
    parser.add_argument('--batch', type=int, default=4, help='training batch (default 4)')
    parser.add_argument('--patch', type=int, default=48, help='training LR patch side (default 48)')
    parser.add_argument('--test-size', type=parse_size, default=(160, 120), help='inference LR WIDTHxHEIGHT')
    parser.add_argument('--rounds', type=int, default=5, help='timed calls per variant after warm-up (default 5)')
    args = parser.parse_intermixed_args(argv)
    with parser.refusing():
        load_plugins(args.imports)
        common.check_positive(args, 'batch', 'patch', 'rounds')
        variants = parse_variants(args.variants, SWITCH_VARIANTS[args.device], args.device)
        models = load_models(args.options) if args.options else load_models([common.IGAN_OPT], SWITCH_DEFAULT)
        common.check_run(args.device, args.compile_backend, {m.path: m.network_g for m in models})
    return args, models, variants


def warmed_up(models, variants, args, flops):
    """(model name, variant) -> its Calls, every one built and warmed up; each model's FLOPs per step into `flops`."""
    image = {'lq': torch.rand(1, 3, args.test_size[1], args.test_size[0], generator=torch.Generator().manual_seed(1))}
    calls = {}
    for model in models:
        data = common.random_batch(args.batch, args.patch, model.scale)
        for variant in variants:
            built = calls[model.name, variant.combo()] = build(model, variant, args, data, image)
            if model.name not in flops:  # the defaults, eager: also a warm-up step
                flops[model.name] = common.flops_of(built.train)
            for call in (built.train, built.infer, built.train):  # compiles both the training and the eval graph
                call()
            print(f'built and warmed up: {model.name} {variant.combo()}', flush=True)
    return calls


SWITCH_COLUMNS = [('model', 'model', None), ('variant', 'variant', None), ('train_ms', 'train step (ms)', '.1f'),
                  ('train_speedup', 'speed-up', '.2f'), ('test_ms', 'inference (ms)', '.1f'),
                  ('test_speedup', 'speed-up', '.2f'), ('gflop', 'GFLOP/step', '.1f'),
                  ('per_flop', 'time per FLOP / first', '.2f')]


def switches(prog, argv):
    """The switches command: OUT/speed_options.md/.csv, a row per model and variant."""
    args, models, variants = switches_args(prog, argv)
    configure_torch()
    flops = {}
    calls = warmed_up(models, variants, args, flops)
    train, test = (common.interleaved_medians({key: getattr(c, kind) for key, c in calls.items()}, args.rounds,
                                              args.device) for kind in Calls._fields)
    first = models[0].name
    rows = [{'model': name, 'variant': combo, 'train_ms': train[name, combo] * 1000,
             'train_speedup': train[name, DEFAULTS] / train[name, combo], 'test_ms': test[name, combo] * 1000,
             'test_speedup': test[name, DEFAULTS] / test[name, combo], 'gflop': flops[name] / 1e9,
             'per_flop': train[name, combo] / flops[name] / (train[first, DEFAULTS] / flops[first])}
            for name, combo in calls]
    notes = [f"{device_name(args.device)}; {'; '.join(m.description for m in models)}.",
             f'Training step: optimize_parameters on batch {args.batch} of {args.patch}x{args.patch} LR patches; '
             f'inference: test() on one {args.test_size[0]}x{args.test_size[1]} LR image.',
             f"Median of {args.rounds} calls per variant, every model's variants in turns. speed-up = the model's "
             f"defaults time / time; time per FLOP / first: against {first} defaults' (FLOPs: FlopCounterMode)."]
    print(write_table(args.out, 'speed_options', SWITCH_COLUMNS, rows, notes))
    return 0


def main(argv=None):
    doc = __doc__ + '\n'.join(f'    {name:15}{text}' for name, text in common.SWITCHES.items())
    return common.run_command('training', doc, {'speed': speed, 'switches': switches}, argv)


if __name__ == '__main__':
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
