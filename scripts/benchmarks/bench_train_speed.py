"""Training-step speed of the paper-size IGAN x4 and basicsr's RCAN under the switches their models have, one run.

    python -m scripts.benchmarks.bench_train_speed --out results/train_speed --profile     # CUDA, paper size
    python -m scripts.benchmarks.bench_train_speed --tiny --device cpu --out /tmp/ts      # small, on CPU

Speed. The networks are the option files' network_g (options/train_IGAN_x4.yml, options/compare/RCAN_x4.yml),
built by basicsr's build_model (IGANModel; RCAN through SwitchSRModel) with
the optimizer of train_IGAN_x4.yml, and timed through their own optimize_parameters on one random batch kept
on the device (batch 16 of 48x48 LR patches, GT 192). A variant is switches joined by '+', optionally
'@BATCH' for another batch size:

    fp32            float32 convolutions (TF32 off; CUDA only)   bf16        train: amp: bf16
    channels_last   channels_last: true                          fused       train: optim_g: fused: true
    compile         compile: true                                compile-ro  compile: {mode: reduce-overhead}
                                                                             (CUDA graphs; CUDA only)
    regional        with compile or compile-ro: compile: {regional: true}, the network's repeated blocks
                    compiled one by one (SwitchSRModel's repeated_blocks)

'defaults' (no switch: PyTorch's defaults, TF32 convolutions on CUDA) is always timed first and is the
reference of the speed-ups (patches/s over the defaults' patches/s). After the variants at the base batch, the
fastest combination of the first model is timed at --batches; 'best' in --rcan-variants is that combination.
Variants are timed one after the other (not interleaved: compiled variants keep their graphs and CUDA-graph
memory), each built, stepped --warmup times (the first step, compilation included, is reported) and then timed
over --steps steps (median); the defaults are timed again after the eager variants and at the end to show
drift. cudnn.benchmark is on, as
basicsr's trainer sets it. FLOPs of a step are PyTorch's FlopCounterMode count of one eager step
(convolutions and matrix products, forward and backward). With --profile the fastest variant's step is
profiled with torch.profiler and its top kernels printed.

Whether the fastest combination trains as well as the defaults: scripts/benchmarks/bench_converge.py.
"""
import contextlib
import copy
import gc
import json
import os
import platform
import sys
import tempfile
import time
from typing import NamedTuple
from unittest import mock

import torch
from basicsr.models import build_model

from igan_basicsr.comparison.measure import device_name, sync
from igan_basicsr.comparison.report import write_table
from igan_basicsr.models.precision import conv_precision
from igan_basicsr.options import read_option_file
from igan_basicsr.plugins import PluginError, add_import_argument, load_plugins
from scripts.benchmarks.speed import interleaved_medians, random_batch, train_options, train_step_flops
from scripts.benchmarks.step_profile import profile_step, profile_text
from scripts.benchmarks.train_switches import (
    CUDA_ONLY,
    DEFAULTS,
    IGAN_OPT,
    TINY_NET,
    OneLineParser,
    Refusal,
    Variant,
    parse_variant,
    switch_options,
    yaml_lines,
)

RCAN_OPT = os.path.join('options', 'compare', 'RCAN_x4.yml')
VARIANTS = ['fp32', 'bf16', 'channels_last', 'fused', 'compile', 'compile-ro', 'bf16+channels_last',
            'bf16+channels_last+fused', 'bf16+channels_last+fused+compile', 'bf16+channels_last+fused+compile-ro',
            'bf16+channels_last+fused+compile+regional', 'bf16+channels_last+fused+compile-ro+regional']
RCAN_VARIANTS = ['fp32', 'bf16+channels_last+fused', 'best']
# Dense tensor-core peaks by device name (vendor datasheets, TFLOP/s), per precision of a row's convolutions.
PEAKS = (('H200', {'bf16': 989.0, 'tf32': 494.0, 'fp32': 67.0}),
         ('H100 PCIe', {'bf16': 756.0, 'tf32': 378.0, 'fp32': 51.0}),
         ('H100', {'bf16': 989.0, 'tf32': 494.0, 'fp32': 67.0}),
         ('A100', {'bf16': 312.0, 'tf32': 156.0, 'fp32': 19.5}),
         ('L40S', {'bf16': 362.0, 'tf32': 183.0, 'fp32': 91.6}),
         ('RTX 4090', {'bf16': 165.0, 'tf32': 82.6, 'fp32': 82.6}))
PAPER_ITERS = 800_000


# ------------------------------------------------------------------------------------------------------ models
class Entry:
    """One network to time: its name, network_g, scale, model_type and variants."""

    def __init__(self, key, path, opt, model_type, variants, tiny):
        self.key, self.path = key, path
        self.network_g = copy.deepcopy(opt['network_g'])
        if tiny:
            self.network_g.update(TINY_NET[key])
        self.scale = opt['scale']
        self.model_type = model_type
        self.variants = variants
        shape = ', '.join(f'{k} {self.network_g[k]}' for k in ('num_feat', 'num_group', 'num_block')
                          if k in self.network_g)
        self.description = f"{key} x{self.scale} ({path}: {shape})"


def load_entry(key, path, variants, tiny):
    try:
        opt = read_option_file(path)
    except ValueError as err:
        raise Refusal(str(err)) from None
    net = opt.get('network_g')
    if not isinstance(net, dict) or net.get('type') != key or not isinstance(opt.get('scale'), int):
        raise Refusal(f'{path}: expected network_g of type {key} and an integer scale.')
    # IGANModel reads the released checkpoint layout; any other network gets the same switches from SwitchSRModel.
    model_type = 'IGANModel' if key == 'IGAN' else 'SwitchSRModel'
    return Entry(key, path, opt, model_type, variants, tiny)


def optimizer_of(path):
    """train: optim_g of the IGAN option file (Adam 1e-4, betas 0.9/0.99): every model is timed with it."""
    opt = read_option_file(path)
    optim = (opt.get('train') or {}).get('optim_g')
    if not isinstance(optim, dict) or optim.get('type') != 'Adam':
        raise Refusal(f'{path}: expected train: optim_g of type Adam.')
    return optim


def _free(device):
    gc.collect()
    if device == 'cuda':
        torch.cuda.empty_cache()


def _graphs_compiled():
    from torch._dynamo.utils import counters
    return counters['stats']['unique_graphs']


def peak_of(name, precision, override):
    """(peak TFLOP/s, source) of `precision` on the device named `name`; override from --peak-tflops."""
    if override:
        return override, '--peak-tflops'
    for key, peaks in PEAKS:
        if key in name:
            return peaks[precision], f'{key} datasheet'
    return None, None


class Kept(NamedTuple):
    """A timed training step kept for profiling: its median ms, variant, built model and batch."""
    ms: float
    variant: Variant
    model: object
    data: dict


class Bench:
    """Builds, warms up and times the variants; keeps the fastest base-batch model of the first network."""

    def __init__(self, args, optim_g):
        self.args, self.optim_g = args, optim_g
        self.device = args.device
        self.flops = {}
        self.rows = []
        # slot -> Kept step of first-model variants at the base batch, for --profile: the defaults, the fastest,
        # and the fastest without CUDA graphs (whose kernels the profiler may not see).
        self.kept = {}
        self.profiles, self.profile_texts = {}, {}

    def build(self, entry, variant):
        top, train = switch_options(variant.switches, self.optim_g, self.args.compile_backend)
        torch.manual_seed(0)
        return build_model(train_options(entry.network_g, entry.scale, model_type=entry.model_type,
                                         device=self.device, train=train, **top))

    def time(self, entry, variant, note=''):
        """Times `variant` of `entry` into a new row (a variant that fails is a row that says so)."""
        batch = variant.batch or self.args.batch
        name = variant.name(self.args.batch)
        row = {'model': entry.key, 'variant': name, 'batch': batch, 'precision': variant.precision(self.device),
               'switches': sorted(variant.switches), 'note': note}
        print(f'{entry.key} {name}: ', end='', flush=True)
        data = {k: v.to(self.device) for k, v in random_batch(batch, self.args.patch, entry.scale).items()}
        model = None
        try:
            cache = cold_compile_cache() if variant.compiled else contextlib.nullcontext()
            with conv_precision('fp32' not in variant.switches, self.device), cache:
                model = self.build(entry, variant)
                if (entry.key, batch) not in self.flops:
                    self.flops[entry.key, batch] = train_step_flops(model, data)
                seconds = self.step_seconds(model, data, variant, row)
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
        _free(self.device)
        return row

    def step_seconds(self, model, data, variant, row):
        """Median seconds of `model`'s training step after the warm-up; the first step's seconds, the graphs
        compiled and the peak memory go into `row`."""
        def step():
            model.feed_data(data)
            model.optimize_parameters(1)

        if self.device == 'cuda':
            torch.cuda.reset_peak_memory_stats()
        graphs = _graphs_compiled()
        sync(self.device)
        start = time.perf_counter()
        step()
        sync(self.device)
        row['first_step_s'] = time.perf_counter() - start
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
        slots = {'fastest': True, 'fastest without CUDA graphs': 'compile-ro' not in kept.variant.switches}
        for slot, eligible in slots.items():
            if eligible and (slot not in self.kept or kept.ms < self.kept[slot].ms):
                self.kept[slot] = kept

    def profile(self, slot, kept):
        """Profile the kept model's step into self.profiles[slot] and the text into OUT/profile.txt."""
        variant = kept.variant
        label = f'{self.entries[0].key} {variant.name(self.args.batch)} ({slot})'
        try:
            with conv_precision('fp32' not in variant.switches, self.device):
                prof = profile_step(kept.model, kept.data, self.device, kept.ms)
            self.profiles[slot] = dict(prof, variant=variant.name(self.args.batch))
            self.profile_texts[slot] = profile_text(prof, label)
        except Exception as err:
            self.profile_texts[slot] = f'{label}: profiling failed: {type(err).__name__}: {str(err).strip()[:300]}'
        print('\n' + self.profile_texts[slot] + '\n', flush=True)
        with open(os.path.join(self.args.out, 'profile.txt'), 'w') as f:
            f.write('\n\n'.join(self.profile_texts.values()) + '\n')

    def fastest(self, entry_key):
        """The fastest timed combination of `entry_key` at the base batch (a Variant), or None."""
        best = best_of(self.rows, entry_key, self.args)
        return Variant(best['switches']) if best else None

    def run(self, entries, batches, budget, on_row):
        self.entries = entries
        start = time.perf_counter()
        first = entries[0]
        # Most telling first, so that a --budget cuts the least: every eager variant, the first model's compiled
        # combinations, its fastest combination at the larger batches (largest first), its single compiled
        # switches, then the other models' best and compiled variants.
        queue = []
        for entry in entries:
            queue += [(entry, Variant())] + [(entry, v) for v in entry.variants if not v.compiled and not v.best]
        queue += [(first, Variant(note='again, after the eager variants (drift check; not the reference)'))]
        # Compilation per block first (a fraction of the whole network's compile time), then CUDA graphs: on the
        # H200 the eager step was not bound by its convolutions (bf16 was slower).
        compiled = sorted((v for v in first.variants if v.compiled and not v.best),
                          key=lambda v: ('regional' not in v.switches, 'compile-ro' not in v.switches))
        queue += [(first, v) for v in compiled if len(v.switches) > 1]
        queue += [(first, Variant(batch=b, best=True)) for b in sorted(batches, reverse=True)]
        queue += [(first, v) for v in compiled if len(v.switches) == 1]
        for entry in entries[1:]:
            queue += [(entry, v) for v in entry.variants if v.best]
            queue += [(entry, v) for v in entry.variants if v.compiled and not v.best]
        seen = set()
        for entry, variant in queue:
            if variant.best:
                best = self.fastest(first.key)
                if best is None:
                    continue
                variant = Variant(best.switches, variant.batch)
            key = (entry.key, variant.switches, variant.batch or self.args.batch)
            if variant.note:
                self.time(entry, variant, note=variant.note)
                on_row(self.rows)
                continue
            if key in seen:
                continue
            seen.add(key)
            if budget is not None and time.perf_counter() - start > budget:
                self.rows.append({'model': entry.key, 'variant': variant.name(self.args.batch),
                                  'batch': variant.batch or self.args.batch,
                                  'precision': variant.precision(self.device), 'switches': sorted(variant.switches),
                                  'note': f'skipped: the --budget of {budget:.0f} s was spent'})
                print(f'{entry.key} {variant.name(self.args.batch)}: skipped (budget)', flush=True)
            else:
                self.time(entry, variant)
            on_row(self.rows)
        # Drift check: the reference again, after everything else.
        self.time(first, Variant(), note='again, at the end (drift check; not the reference)')
        on_row(self.rows)


def add_derived(rows, device, device_label, peak_override, base_batch):
    """Speed-up over the model's defaults row, peak and fraction of peak, for every timed row."""
    reference = {r['model']: r for r in rows if r['variant'] == DEFAULTS and r['batch'] == base_batch
                 and 'ms' in r and not r['note'].startswith('again')}
    for row in rows:
        if 'ms' not in row:
            continue
        ref = reference.get(row['model'])
        row['speedup'] = row['patches_s'] / ref['patches_s'] if ref else None
        peak, _ = peak_of(device_label, row['precision'], peak_override) if device == 'cuda' or peak_override \
            else (None, None)
        row['peak_tflops'] = peak
        row['peak_fraction'] = row['tflops_s'] / peak if peak else None
        row['paper_hours'] = row['ms'] / 1000 * PAPER_ITERS / 3600 if row['batch'] == base_batch else None


COLUMNS = [('model', 'model', None), ('variant', 'variant', None), ('batch', 'batch', None),
           ('ms', 'ms/step', '.2f'), ('patches_s', 'patches/s', '.1f'), ('speedup', 'speed-up', '.2f'),
           ('gflop', 'GFLOP/step', '.1f'), ('tflops_s', 'TFLOP/s', '.2f'), ('precision', 'precision', None),
           ('peak_fraction', 'of peak', '.1%'), ('paper_hours', '800k iters (h)', '.1f'),
           ('first_step_s', 'first step (s)', '.1f'), ('peak_mem_gib', 'peak mem (GiB)', '.1f'),
           ('note', 'note', None)]


# --------------------------------------------------------------------------------------------------------- main
def build_parser():
    parser = OneLineParser(prog='bench_train_speed', description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', choices=('igan', 'rcan'), default=['igan', 'rcan'],
                        help='networks to time (default both; the first one decides the best combination)')
    parser.add_argument('--igan-opt', default=IGAN_OPT, help=f'option file of the IGAN (default {IGAN_OPT})')
    parser.add_argument('--rcan-opt', default=RCAN_OPT, help=f'option file of the RCAN (default {RCAN_OPT})')
    parser.add_argument('--variants', nargs='+', metavar='VARIANT',
                        help=f"first model's variants besides the defaults (default: {' '.join(VARIANTS)}; on "
                             f"CPU those without {' or '.join(CUDA_ONLY)})")
    parser.add_argument('--rcan-variants', nargs='*', metavar='VARIANT',
                        help=f"RCAN's variants (default: {' '.join(RCAN_VARIANTS)}, best = the IGAN's fastest)")
    parser.add_argument('--batches', nargs='*', type=int,
                        help='batch sizes at which the fastest combination is timed too (default 32 64; tiny 4)')
    parser.add_argument('--batch', type=int, help='base batch (default 16; tiny 2)')
    parser.add_argument('--patch', type=int, help='LR patch side (default 48; tiny 16)')
    parser.add_argument('--steps', type=int, help='timed steps per variant, median (default 20; tiny 3)')
    parser.add_argument('--warmup', type=int, help='steps before timing, compilation included (default 5; tiny 1)')
    parser.add_argument('--tiny', action='store_true', help=f'small widths ({TINY_NET}), batch 2, patch 16')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--compile-backend', default='inductor',
                        help="torch.compile backend of the compile variants (default inductor; 'eager' only "
                             'checks the path, e.g. in CPU tests)')
    parser.add_argument('--peak-tflops', type=float, help="peak TFLOP/s for every row instead of the device's table")
    parser.add_argument('--budget', type=float,
                        help='seconds after which no further variant is started (skipped rows say so)')
    parser.add_argument('--profile', action='store_true', help='profile one step of the fastest variant')
    parser.add_argument('--out', default=os.path.join('results', 'train_speed'),
                        help='folder for train_speed.md/.csv/.json (and profile.txt)')
    add_import_argument(parser)
    return parser


def check_args(args):
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise Refusal('--device cuda: no CUDA device here.')
    tiny = args.tiny
    defaults = {'batch': 2 if tiny else 16, 'patch': 16 if tiny else 48, 'steps': 3 if tiny else 20,
                'warmup': 2 if tiny else 5}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
        elif getattr(args, key) < 1:
            raise Refusal(f'--{key} must be at least 1, got {getattr(args, key)}.')
    if args.batches is None:
        args.batches = [4] if tiny else [32, 64]
    if any(b < 1 for b in args.batches):
        raise Refusal(f'--batches must be positive, got {args.batches}.')
    if args.peak_tflops is not None and args.peak_tflops <= 0:
        raise Refusal(f'--peak-tflops must be positive, got {args.peak_tflops}.')
    if args.budget is not None and args.budget < 0:
        raise Refusal(f'--budget must not be negative, got {args.budget}.')
    on_cpu = args.device != 'cuda'
    names = args.variants if args.variants is not None else [
        v for v in VARIANTS if not (on_cpu and any(s in v.split('+') for s in CUDA_ONLY))]
    rcan_names = args.rcan_variants if args.rcan_variants is not None else [
        v for v in RCAN_VARIANTS if not (on_cpu and any(s in v.split('+') for s in CUDA_ONLY))]
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
    return entries, optimizer_of(args.igan_opt)


def best_of(rows, model, args):
    """The fastest timed combination of `model` at the base batch, with its option-file lines, and the row of
    most patches/s at any batch; None before any is timed."""
    timed = [r for r in rows if r['model'] == model and 'ms' in r and not r['note'].startswith('again')]
    base = [r for r in timed if r['batch'] == args.batch]
    if not base:
        return None
    best = min(base, key=lambda r: r['ms'])
    most = max(timed, key=lambda r: r['patches_s'])
    return {'model': model, 'variant': best['variant'], 'switches': best['switches'], 'ms': best['ms'],
            'patches_s': best['patches_s'], 'speedup': best.get('speedup'),
            'yaml': yaml_lines(best['switches'], args.compile_backend),
            'max_patches_s': most['patches_s'], 'max_patches_s_variant': most['variant']}


def versions(device):
    found = {'torch': torch.__version__, 'python': platform.python_version()}
    if device == 'cuda':
        found.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return found


def write_results(out, rows, notes, meta):
    text = write_table(out, 'train_speed', COLUMNS, rows, notes)
    with open(os.path.join(out, 'train_speed.json'), 'w') as f:
        json.dump(dict(meta, rows=rows), f, indent=1)
    return text


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
    # Room for every compiled variant, and static shapes: several variants are built in one process, and a
    # compiled one must not silently fall back to eager or to dynamic shapes.
    import torch._dynamo.config as dynamo_config  # binds the alias only; `import torch._dynamo` would make torch local
    # A run starts from an empty compile cache in memory (and each compiled variant from an empty one on disk,
    # cold_compile_cache): a graph cached by earlier work would hide a variant's compile time (first step) and
    # its graph count.
    torch.compiler.reset()
    for name, value in (('recompile_limit', 64), ('cache_size_limit', 64), ('accumulated_recompile_limit', 4096),
                        ('accumulated_cache_size_limit', 4096), ('automatic_dynamic_shapes', False)):
        if hasattr(dynamo_config, name):
            setattr(dynamo_config, name, value)


def table_notes(args, entries, label):
    tf32 = 'TF32 convolutions by default (cudnn.benchmark on)' if args.device == 'cuda' else 'float32'
    peak = ('of peak: achieved / the dense peak of the row\'s precision ('
            + (f'--peak-tflops {args.peak_tflops}' if args.peak_tflops else 'vendor datasheet') + ').'
            if args.device == 'cuda' or args.peak_tflops else 'No peak on CPU (give --peak-tflops).')
    return [f"{label}; torch {torch.__version__}; {'; '.join(e.description for e in entries)}.",
            f'Training step: optimize_parameters on batch {args.batch} of {args.patch}x{args.patch} LR patches '
            f'(GT {args.patch * entries[0].scale}), the batch already on the device; {tf32}.',
            f'Median of {args.steps} steps after {args.warmup} warm-up steps; variants timed one after the other, '
            'the defaults again after the eager ones and at the end. '
            'speed-up = patches/s / the model\'s defaults patches/s.',
            'FLOPs: FlopCounterMode on one eager step (convolutions and matrix products, forward + backward). ' + peak,
            f'800k iters (h): ms/step x {PAPER_ITERS} (batch {args.batch} only).']


def print_summary(rows, best, args):
    base = next((r for r in rows if r['model'] == best['model'] and r['variant'] == DEFAULTS and 'ms' in r), None)
    print(f"fastest {best['model']} at batch {args.batch}: {best['variant']}, {best['ms']:.2f} ms/step"
          + (f", {best['speedup']:.2f}x the defaults ({base['ms']:.2f} ms)" if best.get('speedup') else '')
          + f"; most patches/s: {best['max_patches_s_variant']} ({best['max_patches_s']:.1f}).")
    if base:
        print(f"{PAPER_ITERS} iterations at batch {args.batch}: {base['ms'] * PAPER_ITERS / 3.6e6:.1f} h with "
              f"the defaults, {best['ms'] * PAPER_ITERS / 3.6e6:.1f} h with {best['variant']}.")
    print('option-file lines: ' + ' | '.join(best['yaml']))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        load_plugins(args.imports)
        entries, optim_g = check_args(args)
    except (Refusal, PluginError) as err:
        parser.exit(2, f'{parser.prog}: error: {err}\n')
    configure_torch(args.device)
    label = device_name(args.device)
    notes = table_notes(args, entries, label)
    meta = {'device': label, 'device_type': args.device, 'versions': versions(args.device), 'args': vars(args),
            'notes': notes}
    os.makedirs(args.out, exist_ok=True)
    bench = Bench(args, optim_g)

    def on_row(rows):
        add_derived(rows, args.device, label, args.peak_tflops, args.batch)
        best = best_of(rows, entries[0].key, args)
        if best:
            meta['best'] = best
        meta['profile'] = bench.profiles
        return write_results(args.out, rows, notes, meta)

    bench.run(entries, args.batches, args.budget, on_row)
    if args.profile:
        profiled = set()
        for slot, kept in bench.kept.items():
            if id(kept.model) not in profiled:
                profiled.add(id(kept.model))
                bench.profile(slot, kept)
    bench.kept = {}
    print('\n' + on_row(bench.rows))
    if 'best' in meta:
        print_summary(bench.rows, meta['best'], args)
    return 0


if __name__ == '__main__':
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
