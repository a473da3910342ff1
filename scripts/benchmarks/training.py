"""Training-step speed: the paper-size IGAN x4 and basicsr's RCAN under every switch (speed), each switch against the
defaults in training and inference for any option file's network (switches), IGAN's time per FLOP against RCAN's
(arch). Whether the fastest combination trains as well as the defaults: scripts/benchmarks/converge.py.

    python -m scripts.benchmarks.training speed --out results/train_speed --profile     # CUDA, paper size
    python -m scripts.benchmarks.training speed --tiny --device cpu --out /tmp/ts      # small, on CPU
    python -m scripts.benchmarks.training switches options/compare/tiny/{IGAN_growth,RCAN,EDSR}_x4.yml \\
        --batch 8 --patch 16 --variants channels_last        # without option files: an IGAN of 64 features, 4x4
    python -m scripts.benchmarks.training arch          # paper sizes: IGAN 64/20x10, RCAN 64/10x20, x4

A variant is switches joined by '+' (speed: optionally '@BATCH' for another batch size), 'defaults' none of them
(PyTorch's defaults, TF32 convolutions on CUDA; the reference of every speed-up):

    fp32            float32 convolutions (TF32 off; CUDA only)   bf16, fp16  train: amp: bf16 | fp16 (fp16 CUDA
    channels_last   channels_last: true                                      only; switches: val: amp too)
    compile         compile: true                                fused       train: optim_g: fused: true
    compile-ro      compile: {mode: reduce-overhead} (CUDA graphs; CUDA only)
    regional        with compile or compile-ro: compile: {regional: true}, the repeated blocks compiled one by one

speed: the option files' network_g (options/train_IGAN_x4.yml, options/compare/RCAN_x4.yml) built by basicsr
(IGANModel; RCAN through SwitchSRModel) with the IGAN file's optimizer, stepped by optimize_parameters on one random
batch kept on the device (16 LR patches of 48, GT 192); the first model's fastest combination is then timed at
--batches ('best' in --rcan-variants). Variants are timed one after the other (compiled ones keep their graphs):
--warmup steps (the first, compilation included, reported), then the median of --steps; the defaults again after
the eager variants and at the end show drift. cudnn.benchmark is on, as in basicsr's trainer. FLOPs:
FlopCounterMode on one eager step. --profile: the defaults' and the fastest step under torch.profiler.
switches: a model's variants timed in alternation (optimize_parameters, then test()), built through SwitchSRModel.
arch: IGANModel and SRModel (RCAN) stepped in alternation; ratio = (IGAN s/FLOP) / (RCAN s/FLOP), bar 1.10.
"""
import contextlib
import copy
import gc
import json
import os
import platform
import re
import sys
import tempfile
import time
from typing import NamedTuple
from unittest import mock

import torch
from basicsr.models import build_model

from igan_basicsr.archs.igan_arch import UPSCALES
from igan_basicsr.comparison.measure import device_name, parse_size, sync
from igan_basicsr.comparison.report import write_table
from igan_basicsr.models.precision import conv_precision
from igan_basicsr.options import load_model_options, read_option_file
from igan_basicsr.plugins import add_import_argument, load_plugins
from scripts.benchmarks.common import (
    ADAM,
    DEFAULTS,
    IGAN_OPT,
    RCAN_OPT,
    TINY_NET,
    OneLineParser,
    Refusal,
    Variant,
    check_positive,
    interleaved_medians,
    parse_variant,
    random_batch,
    run_command,
    runs_on,
    switch_options,
    train_options,
    train_step_flops,
    training_step,
    yaml_lines,
)

VARIANTS = ['fp32', 'bf16', 'channels_last', 'fused', 'compile', 'compile-ro', 'bf16+channels_last',
            'bf16+channels_last+fused', 'bf16+channels_last+fused+compile', 'bf16+channels_last+fused+compile-ro',
            'bf16+channels_last+fused+compile+regional', 'bf16+channels_last+fused+compile-ro+regional']
RCAN_VARIANTS = ['fp32', 'bf16+channels_last+fused', 'best']
SWITCH_VARIANTS = {'cpu': ['channels_last', 'bf16', 'compile', 'channels_last+compile']}
SWITCH_VARIANTS['cuda'] = SWITCH_VARIANTS['cpu'] + ['fp16', 'bf16+channels_last+compile']
# Dense tensor-core peaks by device name (vendor datasheets, TFLOP/s), per precision of a row's convolutions
# (fp16's dense peak is bf16's on each of these).
PEAKS = (('H200', {'bf16': 989.0, 'tf32': 494.0, 'fp32': 67.0}),
         ('H100 PCIe', {'bf16': 756.0, 'tf32': 378.0, 'fp32': 51.0}),
         ('H100', {'bf16': 989.0, 'tf32': 494.0, 'fp32': 67.0}),
         ('A100', {'bf16': 312.0, 'tf32': 156.0, 'fp32': 19.5}),
         ('L40S', {'bf16': 362.0, 'tf32': 183.0, 'fp32': 91.6}),
         ('RTX 4090', {'bf16': 165.0, 'tf32': 82.6, 'fp32': 82.6}))
PAPER_ITERS = 800_000
BAR = 1.10


def default_device():
    return 'cuda' if torch.cuda.is_available() else 'cpu'


# ------------------------------------------------------------------------------------------------------- speed
class Entry(NamedTuple):
    """One network to time: its name, network_g, scale, model_type, variants and a description for the notes."""
    key: str
    network_g: dict
    scale: int
    model_type: str
    variants: list
    description: str


def load_entry(key, path, variants, tiny):
    """The Entry of the option file `path`, whose network_g must be of type `key`."""
    opt = read_option_file(path)
    net = opt.get('network_g')
    if not isinstance(net, dict) or net.get('type') != key or not isinstance(opt.get('scale'), int):
        raise Refusal(f'{path}: expected network_g of type {key} and an integer scale.')
    net = dict(copy.deepcopy(net), **(TINY_NET[key] if tiny else {}))
    shape = ', '.join(f'{k} {net[k]}' for k in ('num_feat', 'num_group', 'num_block') if k in net)
    # IGANModel reads the released checkpoint layout; any other network gets the same switches from SwitchSRModel.
    return Entry(key, net, opt['scale'], 'IGANModel' if key == 'IGAN' else 'SwitchSRModel', variants,
                 f"{key} x{opt['scale']} ({path}: {shape})")


def optimizer_of(path):
    """train: optim_g of the IGAN option file (Adam 1e-4, betas 0.9/0.99): every model is timed with it."""
    optim = (read_option_file(path).get('train') or {}).get('optim_g')
    if not isinstance(optim, dict) or optim.get('type') != 'Adam':
        raise Refusal(f'{path}: expected train: optim_g of type Adam.')
    return optim


def peak_of(name, precision, override):
    """Peak TFLOP/s of `precision` on the device named `name`; `override` from --peak-tflops."""
    if override:
        return override
    return next((peaks['bf16' if precision == 'fp16' else precision] for key, peaks in PEAKS if key in name), None)


def _graphs_compiled():
    from torch._dynamo.utils import counters
    return counters['stats']['unique_graphs']


@contextlib.contextmanager
def cold_compile_cache():
    """An empty inductor cache on disk (and Triton's, unless TRITON_CACHE_DIR is set) for one compiled variant,
    removed after it: its first step compiles from nothing, as a user's first run does, instead of loading what
    an earlier run or variant cached. Inductor reads TORCHINDUCTOR_CACHE_DIR at each compilation."""
    with tempfile.TemporaryDirectory(prefix='igan_compile_cache_') as directory, \
            mock.patch.dict(os.environ, TORCHINDUCTOR_CACHE_DIR=directory):
        yield directory


def configure_torch(device):
    if device == 'cuda':
        torch.backends.cudnn.benchmark = True  # as basicsr's train_pipeline sets it
    import torch._dynamo.config as dynamo_config  # binds the alias only; `import torch._dynamo` would make torch local
    # A run starts from an empty compile cache in memory (each compiled variant from an empty one on disk,
    # cold_compile_cache): a graph cached by earlier work would hide a variant's compile time and graph count.
    torch.compiler.reset()
    # Room for every compiled variant, and static shapes: several variants are built in one process, and a
    # compiled one must not silently fall back to eager or to dynamic shapes.
    for name, value in (('recompile_limit', 64), ('cache_size_limit', 64), ('accumulated_recompile_limit', 4096),
                        ('accumulated_cache_size_limit', 4096), ('automatic_dynamic_shapes', False)):
        if hasattr(dynamo_config, name):
            setattr(dynamo_config, name, value)


class Kept(NamedTuple):
    """A timed training step kept for profiling: its median ms, variant, built model and batch."""
    ms: float
    variant: Variant
    model: object
    data: dict


class Bench:
    """Builds, warms up and times the variants; keeps the first network's steps at the base batch to profile."""

    def __init__(self, args, optim_g, entries):
        self.args, self.optim_g, self.entries, self.device = args, optim_g, entries, args.device
        self.flops, self.rows = {}, []
        # slot -> Kept step for --profile: the fastest, and the fastest without CUDA graphs (whose kernels the
        # profiler may not see); the defaults are profiled at once.
        self.kept, self.profiles, self.profile_texts = {}, {}, {}

    def row(self, entry, variant, note):
        return {'model': entry.key, 'variant': variant.name(self.args.batch), 'batch': variant.batch or self.args.batch,
                'precision': variant.precision(self.device), 'switches': sorted(variant.switches), 'note': note}

    def time(self, entry, variant, note=''):
        """Times `variant` of `entry` into a new row (a variant that fails is a row that says so)."""
        row = self.row(entry, variant, note)
        batch = row['batch']
        print(f"{entry.key} {row['variant']}: ", end='', flush=True)
        data = {k: v.to(self.device) for k, v in random_batch(batch, self.args.patch, entry.scale).items()}
        model = None
        try:
            cache = cold_compile_cache() if variant.compiled else contextlib.nullcontext()
            with conv_precision('fp32' not in variant.switches, self.device), cache:
                top, train, _ = switch_options(variant.switches, self.optim_g, self.args.compile_backend)
                torch.manual_seed(0)
                model = build_model(train_options(entry.network_g, entry.scale, entry.model_type, self.device, train,
                                                  **top))
                if (entry.key, batch) not in self.flops:
                    self.flops[entry.key, batch] = train_step_flops(model, data)
                seconds = self.step_seconds(training_step(model, data), variant, row)
        except Exception as err:  # a variant that fails is a row that says so, not the end of the run
            message = str(err).strip().splitlines()[0][:200] if str(err).strip() else ''
            row['note'] = '; '.join(filter(None, [note, f'failed: {type(err).__name__}: {message}']))
            print(row['note'], flush=True)
        else:
            flops = self.flops[entry.key, batch]
            row.update(ms=seconds * 1000, patches_s=batch / seconds, gflop=flops / 1e9,
                       tflops_s=flops / seconds / 1e12)
            print(f"{row['ms']:.2f} ms/step, {row['patches_s']:.1f} patches/s, {row['tflops_s']:.2f} TFLOP/s "
                  f"(first step {row['first_step_s']:.1f} s)", flush=True)
            if self.args.profile and entry is self.entries[0] and batch == self.args.batch and not note:
                self.keep_for_profile(Kept(row['ms'], variant, model, data))
        self.rows.append(row)
        model = None  # noqa: F841  (drops the network before the next variant)
        gc.collect()
        if self.device == 'cuda':
            torch.cuda.empty_cache()

    def step_seconds(self, step, variant, row):
        """Median seconds of `step` after the warm-up; the first step's seconds, the graphs compiled and the peak
        memory go into `row`."""
        if self.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        graphs = _graphs_compiled()
        row['first_step_s'] = interleaved_medians({'first': step}, 1, self.device)['first']
        for _ in range(self.args.warmup - 1):
            step()
        seconds = interleaved_medians({'step': step}, self.args.steps, self.device)['step']
        if variant.compiled:
            row['note'] = '; '.join(filter(None, [row['note'], f'{_graphs_compiled() - graphs} graph(s) compiled']))
        if self.device == 'cuda':
            row['peak_mem_gib'] = torch.cuda.max_memory_allocated() / 2**30
        return seconds

    def keep_for_profile(self, kept):
        """Profiles the defaults at once (a run stopped later still says where their time goes) and keeps the
        fastest step, and the fastest without CUDA graphs, for profiling at the end."""
        if not kept.variant.switches:
            self.profile('defaults', kept)
        for slot, eligible in (('fastest', True), ('fastest without CUDA graphs',
                                                   'compile-ro' not in kept.variant.switches)):
            if eligible and (slot not in self.kept or kept.ms < self.kept[slot].ms):
                self.kept[slot] = kept

    def profile(self, slot, kept):
        """Profile the kept model's step into self.profiles[slot] and the text into OUT/profile.txt."""
        name = kept.variant.name(self.args.batch)
        label = f'{self.entries[0].key} {name} ({slot})'
        try:
            with conv_precision('fp32' not in kept.variant.switches, self.device):
                prof = profile_step(training_step(kept.model, kept.data), self.device, kept.ms)
            self.profiles[slot] = dict(prof, variant=name)
            self.profile_texts[slot] = profile_text(prof, label)
        except Exception as err:
            self.profile_texts[slot] = f'{label}: profiling failed: {type(err).__name__}: {str(err).strip()[:300]}'
        print('\n' + self.profile_texts[slot] + '\n', flush=True)
        with open(os.path.join(self.args.out, 'profile.txt'), 'w') as f:
            f.write('\n\n'.join(self.profile_texts.values()) + '\n')

    def queue(self):
        """(entry, variant) in the order timed, most telling first, so that a --budget cuts the least: every eager
        variant, the first model's compiled combinations, its fastest at the larger batches (largest first), its
        single compiled switches, then the other models' best and compiled variants."""
        first = self.entries[0]
        queue = []
        for entry in self.entries:
            queue += [(entry, Variant())] + [(entry, v) for v in entry.variants if not v.compiled and not v.best]
        queue += [(first, Variant(note='again, after the eager variants (drift check; not the reference)'))]
        # Compilation per block first (a fraction of the whole network's compile time), then CUDA graphs: on the
        # H200 the eager step was not bound by its convolutions (bf16 was slower).
        compiled = sorted((v for v in first.variants if v.compiled and not v.best),
                          key=lambda v: ('regional' not in v.switches, 'compile-ro' not in v.switches))
        queue += [(first, v) for v in compiled if len(v.switches) > 1]
        queue += [(first, Variant(batch=b, best=True)) for b in sorted(self.args.batches, reverse=True)]
        queue += [(first, v) for v in compiled if len(v.switches) == 1]
        for entry in self.entries[1:]:
            queue += [(entry, v) for v in entry.variants if v.best] + [(entry, v) for v in entry.variants
                                                                      if v.compiled and not v.best]
        return queue + [(first, Variant(note='again, at the end (drift check; not the reference)'))]

    def run(self, on_row):
        start, seen, budget = time.perf_counter(), set(), self.args.budget
        for entry, variant in self.queue():
            if variant.best:
                best = best_of(self.rows, self.entries[0].key, self.args.batch)
                if best is None:
                    continue
                variant = Variant(best['switches'], variant.batch)
            key = (entry.key, variant.switches, variant.batch or self.args.batch)
            if not variant.note and key in seen:
                continue
            seen.add(key)
            if not variant.note and budget is not None and time.perf_counter() - start > budget:
                self.rows.append(self.row(entry, variant, f'skipped: the --budget of {budget:.0f} s was spent'))
                print(f'{entry.key} {variant.name(self.args.batch)}: skipped (budget)', flush=True)
            else:
                self.time(entry, variant, variant.note)
            on_row(self.rows)


def add_derived(rows, args, label):
    """Speed-up over the model's defaults row, peak and fraction of peak, for every timed row."""
    reference = {r['model']: r for r in rows if r['variant'] == DEFAULTS and r['batch'] == args.batch
                 and 'ms' in r and not r['note'].startswith('again')}
    for row in (r for r in rows if 'ms' in r):
        ref = reference.get(row['model'])
        row['speedup'] = row['patches_s'] / ref['patches_s'] if ref else None
        peak = peak_of(label, row['precision'], args.peak_tflops) if args.device == 'cuda' or args.peak_tflops \
            else None
        row['peak_tflops'], row['peak_fraction'] = peak, row['tflops_s'] / peak if peak else None
        row['paper_hours'] = row['ms'] / 1000 * PAPER_ITERS / 3600 if row['batch'] == args.batch else None


def best_of(rows, model, batch, compile_backend='inductor'):
    """The fastest timed combination of `model` at the base `batch`, with its option-file lines, and the row of
    most patches/s at any batch; None before any is timed."""
    timed = [r for r in rows if r['model'] == model and 'ms' in r and not r['note'].startswith('again')]
    base = [r for r in timed if r['batch'] == batch]
    if not base:
        return None
    best, most = min(base, key=lambda r: r['ms']), max(timed, key=lambda r: r['patches_s'])
    return {'model': model, 'variant': best['variant'], 'switches': best['switches'], 'ms': best['ms'],
            'patches_s': best['patches_s'], 'speedup': best.get('speedup'),
            'yaml': yaml_lines(best['switches'], compile_backend),
            'max_patches_s': most['patches_s'], 'max_patches_s_variant': most['variant']}


COLUMNS = [('model', 'model', None), ('variant', 'variant', None), ('batch', 'batch', None),
           ('ms', 'ms/step', '.2f'), ('patches_s', 'patches/s', '.1f'), ('speedup', 'speed-up', '.2f'),
           ('gflop', 'GFLOP/step', '.1f'), ('tflops_s', 'TFLOP/s', '.2f'), ('precision', 'precision', None),
           ('peak_fraction', 'of peak', '.1%'), ('paper_hours', '800k iters (h)', '.1f'),
           ('first_step_s', 'first step (s)', '.1f'), ('peak_mem_gib', 'peak mem (GiB)', '.1f'),
           ('note', 'note', None)]


def speed_parser(prog):
    parser = OneLineParser(prog=prog, description='Training-step speed of the paper-size IGAN x4 and RCAN under '
                                                  'the switches their models have, one run.')
    parser.add_argument('--models', nargs='+', choices=('igan', 'rcan'), default=['igan', 'rcan'],
                        help='networks to time (default both; the first one decides the best combination)')
    parser.add_argument('--igan-opt', default=IGAN_OPT, help=f'option file of the IGAN (default {IGAN_OPT})')
    parser.add_argument('--rcan-opt', default=RCAN_OPT, help=f'option file of the RCAN (default {RCAN_OPT})')
    parser.add_argument('--variants', nargs='+', metavar='VARIANT', help="first model's variants besides the "
                        f"defaults (default: {' '.join(VARIANTS)}; on CPU those that run there)")
    parser.add_argument('--rcan-variants', nargs='*', metavar='VARIANT',
                        help=f"RCAN's variants (default: {' '.join(RCAN_VARIANTS)}, best = the IGAN's fastest)")
    parser.add_argument('--batches', nargs='*', type=int,
                        help='batch sizes at which the fastest combination is timed too (default 32 64; tiny 4)')
    parser.add_argument('--batch', type=int, help='base batch (default 16; tiny 2)')
    parser.add_argument('--patch', type=int, help='LR patch side (default 48; tiny 16)')
    parser.add_argument('--steps', type=int, help='timed steps per variant, median (default 20; tiny 3)')
    parser.add_argument('--warmup', type=int, help='steps before timing, compilation included (default 5; tiny 2)')
    parser.add_argument('--tiny', action='store_true', help=f'small widths ({TINY_NET}), batch 2, patch 16')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=default_device())
    parser.add_argument('--compile-backend', default='inductor', help="torch.compile backend of the compile "
                        "variants (default inductor; 'eager' only checks the path, e.g. in CPU tests)")
    parser.add_argument('--peak-tflops', type=float, help="peak TFLOP/s for every row instead of the device's table")
    parser.add_argument('--budget', type=float,
                        help='seconds after which no further variant is started (skipped rows say so)')
    parser.add_argument('--profile', action='store_true', help='profile the defaults and the fastest variant')
    parser.add_argument('--out', default=os.path.join('results', 'train_speed'),
                        help='folder for train_speed.md/.csv/.json (and profile.txt)')
    add_import_argument(parser)
    return parser


def speed_entries(args):
    """The networks to time (Entry), after filling in the defaults; Refusal for what cannot run."""
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise Refusal('--device cuda: no CUDA device here.')
    for key, (tiny, paper) in {'batch': (2, 16), 'patch': (16, 48), 'steps': (3, 20), 'warmup': (2, 5)}.items():
        setattr(args, key, (tiny if args.tiny else paper) if getattr(args, key) is None else getattr(args, key))
    check_positive(args, 'batch', 'patch', 'steps', 'warmup')
    args.batches = ([4] if args.tiny else [32, 64]) if args.batches is None else args.batches
    if any(b < 1 for b in args.batches):
        raise Refusal(f'--batches must be positive, got {args.batches}.')
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        raise Refusal(f'--peak-tflops must be positive, got {args.peak_tflops}.')
    if args.budget is not None and args.budget < 0:
        raise Refusal(f'--budget must not be negative, got {args.budget}.')
    names = args.variants or [v for v in VARIANTS if runs_on(v, args.device)]
    rcan_names = [v for v in RCAN_VARIANTS if runs_on(v, args.device)] if args.rcan_variants is None \
        else args.rcan_variants
    variants = [parse_variant(v, args.device) for v in names]
    rcan = [parse_variant(v, args.device, allow_best=True) for v in rcan_names]
    entries = []
    for index, key in enumerate(args.models):
        if key in args.models[:index]:
            raise Refusal(f'--models names {key} twice.')
        if key == 'igan':
            entries.append(load_entry('IGAN', args.igan_opt, variants, args.tiny))
        else:  # 'best' is the first model's fastest: none when the RCAN is the first
            entries.append(load_entry('RCAN', args.rcan_opt, [v for v in rcan if index or not v.best], args.tiny))
    return entries


def speed_notes(args, entries, label):
    tf32 = 'TF32 convolutions by default (cudnn.benchmark on)' if args.device == 'cuda' else 'float32'
    peak = ("of peak: achieved / the dense peak of the row's precision ("
            + (f'--peak-tflops {args.peak_tflops}' if args.peak_tflops else 'vendor datasheet') + ').'
            if args.device == 'cuda' or args.peak_tflops else 'No peak on CPU (give --peak-tflops).')
    return [f"{label}; torch {torch.__version__}; {'; '.join(e.description for e in entries)}.",
            f'Training step: optimize_parameters on batch {args.batch} of {args.patch}x{args.patch} LR patches '
            f'(GT {args.patch * entries[0].scale}), the batch already on the device; {tf32}.',
            f'Median of {args.steps} steps after {args.warmup} warm-up steps; variants timed one after the other, '
            "the defaults again after the eager ones and at the end. speed-up = patches/s / the model's defaults "
            'patches/s.',
            'FLOPs: FlopCounterMode on one eager step (convolutions and matrix products, forward + backward). ' + peak,
            f'800k iters (h): ms/step x {PAPER_ITERS} (batch {args.batch} only).']


def print_summary(rows, best, batch):
    base = next((r for r in rows if r['model'] == best['model'] and r['variant'] == DEFAULTS and 'ms' in r), None)
    print(f"fastest {best['model']} at batch {batch}: {best['variant']}, {best['ms']:.2f} ms/step"
          + (f", {best['speedup']:.2f}x the defaults ({base['ms']:.2f} ms)" if best.get('speedup') else '')
          + f"; most patches/s: {best['max_patches_s_variant']} ({best['max_patches_s']:.1f}).")
    if base:
        print(f"{PAPER_ITERS} iterations at batch {batch}: {base['ms'] * PAPER_ITERS / 3.6e6:.1f} h with "
              f"the defaults, {best['ms'] * PAPER_ITERS / 3.6e6:.1f} h with {best['variant']}.")
    print('option-file lines: ' + ' | '.join(best['yaml']))


def speed(prog, argv):
    """The speed command: every variant timed into OUT/train_speed.md/.csv/.json, rewritten after each row."""
    parser = speed_parser(prog)
    args = parser.parse_args(argv)
    with parser.refusing():
        load_plugins(args.imports)
        entries = speed_entries(args)
        optim_g = optimizer_of(args.igan_opt)
    configure_torch(args.device)
    label = device_name(args.device)
    notes = speed_notes(args, entries, label)
    versions = {'torch': torch.__version__, 'python': platform.python_version()}
    if args.device == 'cuda':
        versions.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    meta = {'device': label, 'device_type': args.device, 'versions': versions, 'args': vars(args), 'notes': notes}
    os.makedirs(args.out, exist_ok=True)
    bench = Bench(args, optim_g, entries)

    def on_row(rows):
        add_derived(rows, args, label)
        best = best_of(rows, entries[0].key, args.batch, args.compile_backend)
        meta.update({'best': best} if best else {}, profile=bench.profiles)
        text = write_table(args.out, 'train_speed', COLUMNS, rows, notes)
        with open(os.path.join(args.out, 'train_speed.json'), 'w') as f:
            json.dump(dict(meta, rows=rows), f, indent=1)
        return text

    bench.run(on_row)
    profiled = set()
    for slot, kept in bench.kept.items():  # one profile per model: 'fastest' where both slots hold it
        if id(kept.model) not in profiled:
            profiled.add(id(kept.model))
            bench.profile(slot, kept)
    bench.kept = {}
    print('\n' + on_row(bench.rows))
    if 'best' in meta:
        print_summary(bench.rows, meta['best'], args.batch)
    return 0


# ---------------------------------------------------------------------------------------------------- profile
KERNEL_KINDS = (('convolution (cuDNN/CUTLASS)', re.compile(r'conv|cudnn|xmma|implicit|gemm|cutlass|sm90|sm80|'
                                                           r'wgrad|dgrad|fprop|nhwc|nchw', re.I)),
                ('optimizer', re.compile(r'adam|multi_tensor|foreach', re.I)),
                ('fused elementwise (Triton)', re.compile(r'^triton', re.I)),
                ('elementwise / reduction (ATen)', re.compile(r'elementwise|vectorized|reduce|unrolled|'
                                                              r'pointwise|prelu|sigmoid|max_pool|pool', re.I)),
                ('copy / memset', re.compile(r'memcpy|memset|copy', re.I)))


def kernel_kind(name):
    return next((kind for kind, pattern in KERNEL_KINDS if pattern.search(name)), 'other')


def _device_time(event):
    return next((v for v in (getattr(event, a, None) for a in ('self_device_time_total', 'self_cuda_time_total'))
                 if v is not None), 0)


def profile_step(step, device, step_ms, steps=2, top=15):
    """Top kernels (GPU) or operators (CPU) of `steps` calls of `step`; time per step and share of the step."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == 'cuda' else [])
    sync(device)
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync(device)
    if device == 'cuda':
        timing = _device_time
        events = [e for e in prof.key_averages() if getattr(e, 'device_type', None) == DeviceType.CUDA and timing(e)]
    else:
        timing = lambda e: e.self_cpu_time_total  # noqa: E731
        events = [e for e in prof.key_averages() if timing(e) > 0]
    total_us = sum(timing(e) for e in events)
    kinds = {}
    for e in events:
        kinds[kernel_kind(e.key)] = kinds.get(kernel_kind(e.key), 0) + timing(e) / 1000 / steps
    busy_ms = total_us / 1000 / steps
    return {'unit': 'GPU kernels' if device == 'cuda' else 'CPU operators (self time)',
            'step_ms': step_ms, 'busy_ms_per_step': busy_ms, 'launches_per_step': sum(e.count for e in events) / steps,
            'busy_fraction': busy_ms / step_ms if device == 'cuda' and step_ms else None,
            'kinds': dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
            'top': [{'name': e.key, 'ms_per_step': timing(e) / 1000 / steps, 'calls_per_step': e.count / steps,
                     'share': timing(e) / total_us if total_us else None, 'kind': kernel_kind(e.key)}
                    for e in sorted(events, key=timing, reverse=True)[:top]]}


def profile_text(profile, label):
    lines = [f"Profile of one step of {label}: {profile['unit']}, mean of 2 steps under torch.profiler."]
    if profile['busy_fraction'] is not None:
        lines.append(f"GPU kernel time {profile['busy_ms_per_step']:.2f} ms per step of {profile['step_ms']:.2f} ms "
                     f"(median, unprofiled): the GPU computes {profile['busy_fraction']:.0%} of the step and waits "
                     f"{1 - profile['busy_fraction']:.0%}; {profile['launches_per_step']:.0f} kernel launches per "
                     'step.')
    lines.append('By kind: ' + '; '.join(f'{k} {v:.2f} ms' for k, v in profile['kinds'].items()))
    lines.append(f"{'ms/step':>8} {'share':>6} {'calls':>6}  kernel")
    for k in profile['top']:
        share = f"{k['share']:.1%}" if k['share'] is not None else '-'
        lines.append(f"{k['ms_per_step']:8.3f} {share:>6} {k['calls_per_step']:6.0f}  {k['name'][:110]}")
    return '\n'.join(lines)


# --------------------------------------------------------------------------------------------------- switches
def switches_models(parser, args):
    """[(name, network_g, scale, description)] from the option files, or the default IGAN from the arguments."""
    shape = {'scale': args.scale, 'num_feat': args.num_feat, 'groups': args.groups, 'blocks': args.blocks}
    if not args.options:
        scale, feat, groups, blocks = (v if v is not None else d for v, d in zip(shape.values(), (4, 64, 4, 4)))
        net = {'type': 'IGAN', 'upscale': scale, 'num_feat': feat, 'num_group': groups, 'num_block': blocks}
        return [('IGAN', net, scale, f'IGAN {feat} features, {groups} groups x {blocks} blocks, x{scale}')]
    given = [f"--{key.replace('_', '-')}" for key, value in shape.items() if value is not None]
    if given:
        parser.error(f"{', '.join(given)}: these shape the default IGAN only; with option files each file's "
                     'network_g and scale are timed. Drop them, or leave out the option files.')
    with parser.refusing():
        load_plugins(args.imports)
        loaded, problems = load_model_options(args.options)
    if problems:
        parser.exit(2, f'{parser.prog}: error: ' + '\n'.join(problems) + '\n')
    return [(opt['name'], opt['network_g'], opt['scale'], f"{opt['name']} ({path}), x{opt['scale']}")
            for path, opt in loaded]


def switches_variants(parser, args):
    """The defaults and the --variants (default: the device's SWITCH_VARIANTS), refused with what to write
    instead."""
    names = args.variants or SWITCH_VARIANTS[args.device]
    for name in names:
        if name.endswith(('.yml', '.yaml')) or os.path.isfile(name):
            parser.error(f'{name!r} is an option file, not a variant: put the option files before --variants.')
        if name == DEFAULTS:
            parser.error(f'{name!r}: the defaults are always timed; name only the switches to compare with them.')
        if '@' in name:
            parser.error(f'{name!r}: --batch sets the batch of every variant here.')
    with parser.refusing():
        variants = [parse_variant(name, args.device) for name in names]
    return {v.name(): v for v in [Variant()] + variants}


def precisely(call, device):
    """`call` with full float32 convolutions (TF32 off) on CUDA."""
    def run():
        with conv_precision(False, device):
            call()
    return run


def time_switches(net, scale, variants, args, image):
    """{variant name: (train seconds, inference seconds)} for one network, its variants built, warmed up and timed
    in alternation, then dropped."""
    data = random_batch(args.batch, args.patch, scale)
    train_calls, test_calls = {}, {}
    for name, variant in variants.items():
        tf32 = 'fp32' not in variant.switches
        with conv_precision(tf32, args.device):
            top, train, val = switch_options(variant.switches, ADAM)
            torch.manual_seed(0)
            model = build_model(train_options(net, scale, device=args.device, train=train, val=val, **top))

        def infer(model=model):
            model.feed_data(image)
            model.test()

        step = training_step(model, data)
        if not tf32:  # fp32: TF32 off around each of its calls (timed in turns with the others)
            step, infer = (precisely(call, args.device) for call in (step, infer))
        for call in (step, infer, step):  # warm-up; compiles both the training and the eval graph
            call()
        train_calls[name], test_calls[name] = step, infer
        print(f'built and warmed up: {name}', flush=True)
    train_s = interleaved_medians(train_calls, args.rounds, args.device)
    test_s = interleaved_medians(test_calls, args.rounds, args.device)
    # Compiled graphs of one model would count towards the next one's recompile limit (the IGAN files share a
    # forward), past which torch.compile falls back to eager without a word.
    torch._dynamo.reset()
    return {name: (train_s[name], test_s[name]) for name in variants}


def switches(prog, argv):
    """The switches command: OUT/speed_options.md/.csv, a row per model and variant."""
    parser = OneLineParser(prog=prog, description="SwitchSRModel's speed switches, each against the model's "
                           'defaults: training-step and inference time, one run.')
    parser.add_argument('options', nargs='*',
                        help='option files whose network_g and scale are timed (default: an IGAN from the arguments)')
    parser.add_argument('--scale', type=int, choices=UPSCALES, help="default IGAN's scale (4)")
    parser.add_argument('--num-feat', type=int, help="default IGAN's features (64)")
    parser.add_argument('--groups', type=int, help="default IGAN's groups (4)")
    parser.add_argument('--blocks', type=int, help="default IGAN's blocks per group (4)")
    parser.add_argument('--batch', type=int, default=4, help='training batch (default 4)')
    parser.add_argument('--patch', type=int, default=48, help='training LR patch side (default 48)')
    parser.add_argument('--test-size', type=parse_size, default=(160, 120), help='inference LR WIDTHxHEIGHT')
    parser.add_argument('--rounds', type=int, default=5, help='timed calls per variant after warm-up (default 5)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=default_device())
    parser.add_argument('--variants', nargs='+', metavar='VARIANT', help='time these besides the defaults, after the '
                        f"option files (default: {' '.join(SWITCH_VARIANTS[default_device()])})")
    parser.add_argument('--out', default='results/speed_options', help='output folder for the tables')
    add_import_argument(parser)
    args = parser.parse_intermixed_args(argv)
    variants = switches_variants(parser, args)
    models = switches_models(parser, args)
    image = {'lq': torch.rand(1, 3, args.test_size[1], args.test_size[0], generator=torch.Generator().manual_seed(1))}
    rows = []
    for model_name, net, scale, _ in models:
        print(f'model: {model_name}', flush=True)
        times = time_switches(net, scale, variants, args, image)
        base_train, base_test = times[DEFAULTS]
        rows += [{'model': model_name, 'variant': name, 'train_ms': train * 1000, 'train_speedup': base_train / train,
                  'test_ms': test * 1000, 'test_speedup': base_test / test} for name, (train, test) in times.items()]
    notes = [f"{device_name(args.device)}; {'; '.join(description for *_, description in models)}.",
             f'Training step: optimize_parameters on batch {args.batch} of {args.patch}x{args.patch} LR patches; '
             f'inference: test() on one {args.test_size[0]}x{args.test_size[1]} LR image.',
             f"Median of {args.rounds} calls per variant, a model's variants in alternation; "
             "speed-up = the model's defaults time / time."]
    columns = [('model', 'model', None), ('variant', 'variant', None), ('train_ms', 'train step (ms)', '.1f'),
               ('train_speedup', 'speed-up', '.2f'), ('test_ms', 'inference (ms)', '.1f'),
               ('test_speedup', 'speed-up', '.2f')]
    print(write_table(args.out, 'speed_options', columns, rows, notes))
    return 0


# ------------------------------------------------------------------------------------------------------- arch
def arch(prog, argv):
    """The arch command: IGAN's and RCAN's step time per FLOP and their ratio against the bar, printed."""
    parser = OneLineParser(prog=prog, description="Efficiency bar: IGAN's training-step time per FLOP against "
                                                  "basicsr's RCAN, same batch and patch, one run.")
    parser.add_argument('--scale', type=int, default=4, choices=UPSCALES)
    parser.add_argument('--batch', type=int, default=2, help='batch size (default 2)')
    parser.add_argument('--patch', type=int, default=48, help="LR patch side (default 48, the paper's)")
    parser.add_argument('--rounds', type=int, default=5, help='timed steps per model, after one warm-up (default 5)')
    parser.add_argument('--num-feat', type=int, default=64)
    parser.add_argument('--igan', type=int, nargs=2, default=(20, 10), metavar=('GROUPS', 'BLOCKS'))
    parser.add_argument('--rcan', type=int, nargs=2, default=(10, 20), metavar=('GROUPS', 'BLOCKS'))
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=default_device())
    args = parser.parse_args(argv)
    shape = {'upscale': args.scale, 'num_feat': args.num_feat}
    nets = {'IGAN': ('IGANModel', dict(shape, type='IGAN', num_group=args.igan[0], num_block=args.igan[1])),
            'RCAN': ('SRModel', dict(shape, type='RCAN', num_in_ch=3, num_out_ch=3, num_group=args.rcan[0],
                                     num_block=args.rcan[1]))}
    data = random_batch(args.batch, args.patch, args.scale)
    models, flops, calls = {}, {}, {}
    for name, (model_type, net) in nets.items():
        torch.manual_seed(0)
        model = models[name] = build_model(train_options(net, args.scale, model_type, args.device))
        flops[name] = train_step_flops(model, data)  # also the warm-up step
        calls[name] = training_step(model, data)
    seconds = interleaved_medians(calls, args.rounds, args.device)
    print(f'{device_name(args.device)}; batch {args.batch}, LR patch {args.patch}, x{args.scale}; '
          f'median of {args.rounds} alternating training steps')
    print(f"{'model':<6}{'params (M)':>12}{'step GFLOPs':>13}{'step (s)':>10}{'ns / kFLOP':>12}")
    per_flop = {name: seconds[name] / flops[name] for name in models}
    for name, model in models.items():
        params = sum(p.numel() for p in model.net_g.parameters()) / 1e6
        print(f'{name:<6}{params:>12.2f}{flops[name] / 1e9:>13.1f}{seconds[name]:>10.2f}{per_flop[name] * 1e12:>12.3f}')
    ratio = per_flop['IGAN'] / per_flop['RCAN']
    print(f"IGAN time per FLOP / RCAN time per FLOP = {ratio:.3f} ({'within' if ratio <= BAR else 'OUTSIDE'} the "
          f'{BAR:.2f} bar)')
    return 0


def main(argv=None):
    return run_command('training', __doc__, {'speed': speed, 'switches': switches, 'arch': arch}, argv)


if __name__ == '__main__':
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
