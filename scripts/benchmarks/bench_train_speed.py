"""Training-step speed of the paper-size IGAN x4 and basicsr's RCAN under the switches their models have, one run.

    python -m scripts.benchmarks.bench_train_speed --out results/train_speed --profile     # CUDA, paper size
    python -m scripts.benchmarks.bench_train_speed --tiny --device cpu --out /tmp/ts      # small, on CPU
    python -m scripts.benchmarks.bench_train_speed converge --fast-from results/train_speed/train_speed.json

Speed. The networks are the option files' network_g (options/train_IGAN_x4.yml, options/compare/RCAN_x4.yml),
built by basicsr's build_model (IGANModel; RCAN through SwitchSRModel) with
the optimizer of train_IGAN_x4.yml, and timed through their own optimize_parameters on one random batch kept
on the device (batch 16 of 48x48 LR patches, GT 192). A variant is switches joined by '+', optionally
'@BATCH' for another batch size:

    fp32            float32 convolutions (TF32 off; CUDA only)   bf16        train: amp: bf16
    channels_last   channels_last: true                          fused       train: optim_g: fused: true
    compile         compile: true                                compile-ro  compile: {mode: reduce-overhead}
                                                                             (CUDA graphs; CUDA only)

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

Convergence (`converge`): the default and the fast settings trained with basicsr's own trainer
(python -m igan_basicsr.train) for the same iterations from the same seed on the same LMDB, their training
losses and the validation PSNR of their checkpoints compared (see converge's --help).
"""
import argparse
import contextlib
import copy
import gc
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import torch
import yaml
from basicsr.models import build_model

from igan_basicsr.comparison.measure import device_name
from igan_basicsr.comparison.report import write_table
from igan_basicsr.demo import write_demo_data
from igan_basicsr.options import read_option_file
from igan_basicsr.plugins import PluginError, add_import_argument, import_arguments, load_plugins
from igan_basicsr.precision import conv_precision
from igan_basicsr.released import extract_state_dict, load_checkpoint
from scripts.benchmarks.speed import interleaved_medians, random_batch, train_options, train_step_flops

IGAN_OPT = os.path.join('options', 'train_IGAN_x4.yml')
RCAN_OPT = os.path.join('options', 'compare', 'RCAN_x4.yml')
DEFAULTS = 'defaults'
SWITCHES = {
    'fp32': 'float32 convolutions (TF32 off)',
    'bf16': 'train: amp: bf16',
    'channels_last': 'channels_last: true',
    'fused': 'train: optim_g: fused: true',
    'compile': 'compile: true',
    'compile-ro': 'compile: {mode: reduce-overhead}',
}
CUDA_ONLY = ('fp32', 'compile-ro')
EXCLUSIVE = (('compile', 'compile-ro'), ('fp32', 'bf16'))
VARIANTS = ['fp32', 'bf16', 'channels_last', 'fused', 'compile', 'compile-ro', 'bf16+channels_last',
            'bf16+channels_last+fused', 'bf16+channels_last+fused+compile', 'bf16+channels_last+fused+compile-ro']
RCAN_VARIANTS = ['fp32', 'bf16+channels_last+fused', 'best']
# Smaller networks for --tiny (CPU tests): widths and depths only, the option files' other settings kept.
TINY_NET = {'IGAN': {'num_feat': 8, 'num_group': 2, 'num_block': 1},
            'RCAN': {'num_feat': 16, 'num_group': 1, 'num_block': 2}}
# Dense tensor-core peaks by device name (vendor datasheets, TFLOP/s), per precision of a row's convolutions.
PEAKS = (('H200', {'bf16': 989.0, 'tf32': 494.0, 'fp32': 67.0}),
         ('H100 PCIe', {'bf16': 756.0, 'tf32': 378.0, 'fp32': 51.0}),
         ('H100', {'bf16': 989.0, 'tf32': 494.0, 'fp32': 67.0}),
         ('A100', {'bf16': 312.0, 'tf32': 156.0, 'fp32': 19.5}),
         ('L40S', {'bf16': 362.0, 'tf32': 183.0, 'fp32': 91.6}),
         ('RTX 4090', {'bf16': 165.0, 'tf32': 82.6, 'fp32': 82.6}))
PAPER_ITERS = 800_000


class Refusal(Exception):
    """Arguments that cannot be run; the message is the one line printed."""


class OneLineParser(argparse.ArgumentParser):
    """Refusals on one line (exit 2), without the usage block."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message}\n')


# ---------------------------------------------------------------------------------------------------- variants
class Variant:
    """Switches (a frozenset of SWITCHES keys) and a batch size; `best` marks one that is resolved later."""

    def __init__(self, switches=(), batch=None, best=False, note=''):
        self.switches, self.batch, self.best, self.note = frozenset(switches), batch, best, note

    @property
    def compiled(self):
        return bool(self.switches & {'compile', 'compile-ro'})

    def combo(self):
        return '+'.join(s for s in SWITCHES if s in self.switches) or DEFAULTS

    def name(self, base_batch):
        return self.combo() + ('' if self.batch in (None, base_batch) else f'@{self.batch}')

    def precision(self, device):
        if device != 'cuda':
            return 'bf16' if 'bf16' in self.switches else 'fp32'
        return 'bf16' if 'bf16' in self.switches else 'fp32' if 'fp32' in self.switches else 'tf32'


def parse_variant(text, device, allow_best=False):
    """'bf16+channels_last@32' -> Variant; Refusal with what to write instead."""
    combo, _, batch = text.partition('@')
    if batch:
        if not batch.isdigit() or int(batch) < 1:
            raise Refusal(f'variant {text!r}: the batch after @ must be a positive integer.')
        batch = int(batch)
    else:
        batch = None
    if combo == 'best':
        if not allow_best:
            raise Refusal(f"variant {text!r}: 'best' (the first model's fastest combination) is for --rcan-variants.")
        return Variant(batch=batch, best=True)
    if combo == DEFAULTS:
        return Variant(batch=batch)
    tokens = combo.replace('_', '-').split('+')
    names = {s.replace('_', '-'): s for s in SWITCHES}
    unknown = [t for t in tokens if t not in names]
    if unknown:
        raise Refusal(f"variant {text!r}: unknown switch {unknown[0]!r}; switches are {', '.join(SWITCHES)}, joined "
                      "by '+', optionally @BATCH (e.g. bf16+channels_last@32).")
    switches = {names[t] for t in tokens}
    for a, b in EXCLUSIVE:
        if {a, b} <= switches:
            raise Refusal(f'variant {text!r}: {a} and {b} exclude each other.')
    if device != 'cuda':
        needs = [s for s in CUDA_ONLY if s in switches]
        if needs:
            raise Refusal(f'variant {text!r}: {needs[0]} needs CUDA ({SWITCHES[needs[0]]}); this run is on {device}.')
    return Variant(switches, batch)


def switch_options(switches, optim_g, compile_backend='inductor'):
    """(top-level options, train options) that turn `switches` on, over the option file's optim_g."""
    top, train = {}, {'optim_g': copy.deepcopy(optim_g)}
    if 'channels_last' in switches:
        top['channels_last'] = True
    backend = {} if compile_backend == 'inductor' else {'backend': compile_backend}
    if 'compile' in switches:
        top['compile'] = backend or True
    if 'compile-ro' in switches:
        top['compile'] = dict(backend, mode='reduce-overhead')
    if 'bf16' in switches:
        train['amp'] = 'bf16'
    if 'fused' in switches:
        train['optim_g']['fused'] = True
    return top, train


def yaml_lines(switches, compile_backend='inductor'):
    """The option-file lines of `switches` (fp32 has none: it is PyTorch's global TF32 setting)."""
    top, train = switch_options(switches, {}, compile_backend)
    lines = [f'{k}: {_yaml_value(v)}' for k, v in top.items()]
    sub = [f"  amp: {train['amp']}"] if 'amp' in train else []
    sub += ['  optim_g:', '    fused: true'] if train['optim_g'].get('fused') else []
    return lines + (['train:'] + sub if sub else [])


def _yaml_value(value):
    if value is True:
        return 'true'
    if isinstance(value, dict):
        return '{' + ', '.join(f'{k}: {v}' for k, v in value.items()) + '}'
    return str(value)


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
    if key == 'IGAN':
        model_type = 'IGANModel'
    else:
        # Today IGANModel carries the general switches; SwitchSRModel is their home once it is registered.
        model_type = 'SwitchSRModel'
    return Entry(key, path, opt, model_type, variants, tiny)


def optimizer_of(path):
    """train: optim_g of the IGAN option file (Adam 1e-4, betas 0.9/0.99): every model is timed with it."""
    opt = read_option_file(path)
    optim = (opt.get('train') or {}).get('optim_g')
    if not isinstance(optim, dict) or optim.get('type') != 'Adam':
        raise Refusal(f'{path}: expected train: optim_g of type Adam.')
    return optim


def _sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


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


class Bench:
    """Builds, warms up and times the variants; keeps the fastest base-batch model of the first network."""

    def __init__(self, args, optim_g):
        self.args, self.optim_g = args, optim_g
        self.device = args.device
        self.flops = {}
        self.rows = []
        # slot -> (ms, variant, model, data) of first-model variants at the base batch, kept for --profile: the
        # defaults, the fastest, and the fastest without CUDA graphs (whose kernels the profiler may not see).
        self.kept = {}
        self.profiles, self.profile_texts = {}, {}

    def build(self, entry, variant):
        top, train = switch_options(variant.switches, self.optim_g, self.args.compile_backend)
        torch.manual_seed(0)
        return build_model(train_options(entry.network_g, entry.scale, model_type=entry.model_type,
                                         device=self.device, train=train, **top))

    def time(self, entry, variant, note=''):
        args = self.args
        batch = variant.batch or args.batch
        name = variant.name(args.batch)
        row = {'model': entry.key, 'variant': name, 'batch': batch, 'precision': variant.precision(self.device),
               'switches': sorted(variant.switches), 'note': note}
        print(f'{entry.key} {name}: ', end='', flush=True)
        data = {k: v.to(self.device) for k, v in random_batch(batch, args.patch, entry.scale).items()}
        model = None
        try:
            with conv_precision('fp32' not in variant.switches, self.device):
                model = self.build(entry, variant)

                def step():
                    model.feed_data(data)
                    model.optimize_parameters(1)

                key = (entry.key, batch)
                if key not in self.flops:
                    self.flops[key] = train_step_flops(model, data)
                if self.device == 'cuda':
                    torch.cuda.reset_peak_memory_stats()
                graphs = _graphs_compiled()
                _sync(self.device)
                start = time.perf_counter()
                step()
                _sync(self.device)
                row['first_step_s'] = time.perf_counter() - start
                for _ in range(args.warmup - 1):
                    step()
                seconds = interleaved_medians({name: step}, args.steps, self.device)[name]
                if variant.compiled:
                    compiled = _graphs_compiled() - graphs
                    row['note'] = '; '.join(filter(None, [note, f'{compiled} graph(s) compiled']))
                if self.device == 'cuda':
                    row['peak_mem_gib'] = torch.cuda.max_memory_allocated() / 2**30
        except Exception as err:  # a variant that fails is a row that says so, not the end of the run
            message = str(err).strip().splitlines()[0][:200] if str(err).strip() else ''
            row['note'] = '; '.join(filter(None, [note, f'failed: {type(err).__name__}: {message}']))
            print(row['note'], flush=True)
            self.rows.append(row)
            model = None  # noqa: F841  (drops the network before the next variant)
            _free(self.device)
            return row
        flops = self.flops[key]
        row.update(ms=seconds * 1000, patches_s=batch / seconds, gflop=flops / 1e9, tflops_s=flops / seconds / 1e12)
        print(f"{row['ms']:.2f} ms/step, {row['patches_s']:.1f} patches/s, {row['tflops_s']:.2f} TFLOP/s "
              f"(first step {row['first_step_s']:.1f} s)", flush=True)
        self.rows.append(row)
        if args.profile and entry is self.entries[0] and batch == args.batch and not note:
            if not variant.switches:  # at once, so that a run stopped later still says where the defaults' time goes
                self.profile('defaults', row['ms'], variant, model, data)
            slots = {'fastest': True, 'fastest without CUDA graphs': 'compile-ro' not in variant.switches}
            for slot, eligible in slots.items():
                if eligible and (slot not in self.kept or row['ms'] < self.kept[slot][0]):
                    self.kept[slot] = (row['ms'], variant, model, data)
        model = None  # noqa: F841  (drops the network before the next variant)
        _free(self.device)
        return row

    def profile(self, slot, ms, variant, model, data):
        """Profile `model`'s step into self.profiles[slot] and the text into OUT/profile.txt."""
        label = f'{self.entries[0].key} {variant.name(self.args.batch)} ({slot})'
        try:
            with conv_precision('fp32' not in variant.switches, self.device):
                prof = profile_step(model, data, self.device, ms)
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
        # CUDA graphs first: on the H200 the eager step was not bound by its convolutions (bf16 was slower).
        compiled = sorted((v for v in first.variants if v.compiled and not v.best),
                          key=lambda v: 'compile-ro' not in v.switches)
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


# ------------------------------------------------------------------------------------------------------ profile
def _device_time(event):
    for attr in ('self_device_time_total', 'self_cuda_time_total'):
        value = getattr(event, attr, None)
        if value is not None:
            return value
    return 0


KERNEL_KINDS = (('convolution (cuDNN/CUTLASS)', re.compile(r'conv|cudnn|xmma|implicit|gemm|cutlass|sm90|sm80|'
                                                           r'wgrad|dgrad|fprop|nhwc|nchw', re.I)),
                ('optimizer', re.compile(r'adam|multi_tensor|foreach', re.I)),
                ('fused elementwise (Triton)', re.compile(r'^triton', re.I)),
                ('elementwise / reduction (ATen)', re.compile(r'elementwise|vectorized|reduce|unrolled|'
                                                              r'pointwise|prelu|sigmoid|max_pool|pool', re.I)),
                ('copy / memset', re.compile(r'memcpy|memset|copy', re.I)))


def kernel_kind(name):
    return next((kind for kind, pattern in KERNEL_KINDS if pattern.search(name)), 'other')


def profile_step(model, data, device, step_ms, steps=2, top=15):
    """Top kernels (GPU) or operators (CPU) of `steps` training steps; time per step and share of the step."""
    from torch.profiler import ProfilerActivity, profile

    def step():
        model.feed_data(data)
        model.optimize_parameters(1)

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == 'cuda' else [])
    _sync(device)
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        _sync(device)
    averages = prof.key_averages()
    if device == 'cuda':
        from torch.autograd import DeviceType
        events = [e for e in averages if getattr(e, 'device_type', None) == DeviceType.CUDA and _device_time(e) > 0]
        timing = _device_time
    else:
        events = [e for e in averages if e.self_cpu_time_total > 0]
        timing = lambda e: e.self_cpu_time_total  # noqa: E731
    total_us = sum(timing(e) for e in events)
    ranked = sorted(events, key=timing, reverse=True)
    kernels = [{'name': e.key, 'ms_per_step': timing(e) / 1000 / steps, 'calls_per_step': e.count / steps,
                'share': timing(e) / total_us if total_us else None, 'kind': kernel_kind(e.key)}
               for e in ranked[:top]]
    kinds = {}
    for e in events:
        kinds[kernel_kind(e.key)] = kinds.get(kernel_kind(e.key), 0) + timing(e) / 1000 / steps
    launches = sum(e.count for e in events) / steps
    busy_ms = total_us / 1000 / steps
    return {'unit': 'GPU kernels' if device == 'cuda' else 'CPU operators (self time)',
            'step_ms': step_ms, 'busy_ms_per_step': busy_ms, 'launches_per_step': launches,
            'busy_fraction': busy_ms / step_ms if device == 'cuda' and step_ms else None,
            'kinds': dict(sorted(kinds.items(), key=lambda kv: -kv[1])), 'top': kernels}


def profile_text(profile, label):
    lines = [f"Profile of one step of {label}: {profile['unit']}, mean of 2 steps under torch.profiler."]
    if profile['busy_fraction'] is not None:
        lines.append(f"GPU kernel time {profile['busy_ms_per_step']:.2f} ms per step of {profile['step_ms']:.2f} ms "
                     f"(median, unprofiled): the GPU computes {profile['busy_fraction']:.0%} of the step and waits "
                     f"{1 - profile['busy_fraction']:.0%}; "
                     f"{profile['launches_per_step']:.0f} kernel launches per step.")
    lines.append('By kind: ' + '; '.join(f'{k} {v:.2f} ms' for k, v in profile['kinds'].items()))
    lines.append(f"{'ms/step':>8} {'share':>6} {'calls':>6}  kernel")
    for k in profile['top']:
        share = f"{k['share']:.1%}" if k['share'] is not None else '-'
        lines.append(f"{k['ms_per_step']:8.3f} {share:>6} {k['calls_per_step']:6.0f}  {k['name'][:110]}")
    return '\n'.join(lines)


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


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == 'converge':
        return converge_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        load_plugins(args.imports)
        entries, optim_g = check_args(args)
    except (Refusal, PluginError) as err:
        parser.exit(2, f'{parser.prog}: error: {err}\n')
    if args.device == 'cuda':
        # As basicsr's train_pipeline sets it; the CUDA-graph and static-shape settings keep compiled
        # variants from silently falling back to eager or to dynamic shapes when several are built.
        torch.backends.cudnn.benchmark = True
    import torch._dynamo.config as dynamo_config  # binds the alias only; `import torch._dynamo` would make torch local
    for name, value in (('recompile_limit', 64), ('cache_size_limit', 64), ('accumulated_recompile_limit', 4096),
                        ('accumulated_cache_size_limit', 4096), ('automatic_dynamic_shapes', False)):
        if hasattr(dynamo_config, name):
            setattr(dynamo_config, name, value)
    label = device_name(args.device)
    tf32 = 'TF32 convolutions by default (cudnn.benchmark on)' if args.device == 'cuda' else 'float32'
    notes = [f"{label}; torch {torch.__version__}; {'; '.join(e.description for e in entries)}.",
             f'Training step: optimize_parameters on batch {args.batch} of {args.patch}x{args.patch} LR patches '
             f'(GT {args.patch * entries[0].scale}), the batch already on the device; {tf32}.',
             f'Median of {args.steps} steps after {args.warmup} warm-up steps; variants timed one after the other, '
             'the defaults again after the eager ones and at the end. '
             'speed-up = patches/s / the model\'s defaults patches/s.',
             'FLOPs: FlopCounterMode on one eager step (convolutions and matrix products, forward + backward). '
             + ('of peak: achieved / the dense peak of the row\'s precision ('
                + (f'--peak-tflops {args.peak_tflops}' if args.peak_tflops else 'vendor datasheet') + ').'
                if args.device == 'cuda' or args.peak_tflops else 'No peak on CPU (give --peak-tflops).'),
             f'800k iters (h): ms/step x {PAPER_ITERS} (batch {args.batch} only).']
    meta = {'device': label, 'device_type': args.device, 'versions': versions(args.device), 'args': vars(args),
            'notes': notes}
    os.makedirs(args.out, exist_ok=True)

    def on_row(rows):
        add_derived(rows, args.device, label, args.peak_tflops, args.batch)
        best = best_of(rows, entries[0].key, args)
        if best:
            meta['best'] = best
        meta['profile'] = bench.profiles
        write_results(args.out, rows, notes, meta)

    bench = Bench(args, optim_g)
    bench.run(entries, args.batches, args.budget, on_row)
    rows = bench.rows
    if args.profile:
        done = set()
        for slot, (ms, variant, model, data) in bench.kept.items():
            if id(model) not in done:
                done.add(id(model))
                bench.profile(slot, ms, variant, model, data)
        meta['profile'] = bench.profiles
    bench.kept = {}
    on_row(rows)
    text = write_results(args.out, rows, notes, meta)
    print('\n' + text)
    if 'best' in meta:
        b = meta['best']
        base = next((r for r in rows if r['model'] == b['model'] and r['variant'] == DEFAULTS and 'ms' in r), None)
        print(f"fastest {b['model']} at batch {args.batch}: {b['variant']}, {b['ms']:.2f} ms/step"
              + (f", {b['speedup']:.2f}x the defaults ({base['ms']:.2f} ms)" if b.get('speedup') else '')
              + f"; most patches/s: {b['max_patches_s_variant']} ({b['max_patches_s']:.1f}).")
        if base:
            print(f"{PAPER_ITERS} iterations at batch {args.batch}: {base['ms'] * PAPER_ITERS / 3.6e6:.1f} h with "
                  f"the defaults, {b['ms'] * PAPER_ITERS / 3.6e6:.1f} h with {b['variant']}.")
        print('option-file lines: ' + ' | '.join(b['yaml']))
    return 0


# ----------------------------------------------------------------------------------------------------- converge
# Accepted: the fast run's validation PSNR at most this far below the default's on every validation set. The
# repository's budget comparison (README) found a seed-to-seed standard deviation of 0.02-0.06 dB between short
# runs of the same model: a gap under 0.05 dB cannot be told from the choice of seed.
ACCEPT_DB = 0.05
# The training L1 of the last fifth of the run, mean over the printed iterations, at most this much higher.
ACCEPT_LOSS = 0.02
LOG_LINE = re.compile(r'iter:\s*([\d,]+).*?time \(data\): ([\d.]+) \(([\d.]+)\)\].*?l_pix: ([-+\d.eE]+)')


def converge_parser():
    parser = OneLineParser(prog='bench_train_speed converge', description=(
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
                        help='seconds after which unfinished trainings are stopped and what they saved is scored')
    parser.add_argument('--tiny', action='store_true', help=f"tiny IGAN ({TINY_NET['IGAN']}), batch 2, GT 32")
    parser.add_argument('--compile-backend', default='inductor', help='torch.compile backend (default inductor)')
    parser.add_argument('--out', default=os.path.join('results', 'converge'), help='folder for the comparison')
    add_import_argument(parser)
    return parser


def fast_switches(args):
    if args.fast:
        variant = parse_variant(args.fast, 'cuda')  # what an option file may say, wherever this runs
    elif args.fast_from:
        try:
            with open(args.fast_from) as f:
                best = json.load(f)['best']
        except (OSError, ValueError, KeyError) as err:
            raise Refusal(f'--fast-from {args.fast_from}: no best combination in it ({type(err).__name__}).') from None
        variant = Variant(best['switches'])
    else:
        variant = Variant({'bf16', 'channels_last', 'fused', 'compile'})
    if 'fp32' in variant.switches or not variant.switches:
        raise Refusal(f'--fast {variant.combo()}: needs option-file switches (fp32 and defaults have none).')
    return variant


def training_options(base, name, data, switches, args):
    """The option file of one convergence run: the file's network and training over the LMDB at --data."""
    opt = copy.deepcopy(base)
    tiny = args.tiny
    top, train = switch_options(switches, base['train']['optim_g'], args.compile_backend)
    if tiny:
        opt['network_g'].update(TINY_NET['IGAN'])
    train_set = opt['datasets']['train']
    train_set.update(dataroot_gt=os.path.join(data, 'DIV2K_train_HR_sub.lmdb'),
                     dataroot_lq=os.path.join(data, f"DIV2K_train_LR_bicubic_X{opt['scale']}_sub.lmdb"),
                     num_worker_per_gpu=args.workers, dataset_enlarge_ratio=100)
    if tiny:
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
    if os.path.isdir(os.path.join(data, 'DIV2K_train_HR_sub.lmdb')):
        return
    write_demo_data({'scale': scale, 'datasets': {
        'train': {'dataroot_gt': os.path.join(data, 'DIV2K_train_HR_sub.lmdb')},
        'val': {'dataroot_gt': os.path.join(data, 'benchmark', 'demo_val', 'HR')}}})


def read_log(path):
    """[(iteration, l_pix, seconds per iteration)] of a basicsr training log."""
    points = []
    with open(path) as f:
        for line in f:
            m = LOG_LINE.search(line)
            if m:
                points.append((int(m.group(1).replace(',', '')), float(m.group(4)), float(m.group(2))))
    return points


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
                hr = hr[:lr.shape[0] * scale, :lr.shape[1] * scale]
                lq = img2tensor(lr / 255., bgr2rgb=True, float32=True)[None].to(device)
                sr = tensor2img(net(lq).cpu())
                values.append(calculate_psnr(sr, hr, crop_border=scale, test_y_channel=True))
            result[os.path.basename(os.path.normpath(folder))] = statistics.mean(values)
    return result


def window_means(points, width):
    """{window end: mean l_pix of the printed iterations in (end - width, end]}."""
    means = {}
    for end in range(width, max((p[0] for p in points), default=0) + 1, width):
        values = [loss for it, loss, _ in points if end - width < it <= end]
        if values:
            means[end] = statistics.mean(values)
    return means


def converge_main(argv):
    parser = converge_parser()
    args = parser.parse_args(argv)
    args.iters = args.iters or (20 if args.tiny else 1000)
    args.ckpt_every = args.ckpt_every or (10 if args.tiny else 200)
    args.print_freq = args.print_freq or (2 if args.tiny else 10)
    try:
        load_plugins(args.imports)
        switches = fast_switches(args).switches
        base = read_option_file(args.opt)
        for value, name in ((args.iters, '--iters'), (args.ckpt_every, '--ckpt-every'),
                            (args.print_freq, '--print-freq'), (args.workers, '--workers')):
            if value < 1:
                raise Refusal(f'{name} must be at least 1, got {value}.')
        if args.iters % args.ckpt_every:
            raise Refusal(f'--iters {args.iters} must be a multiple of --ckpt-every {args.ckpt_every}.')
        missing = [v for v in args.val if not os.path.isdir(os.path.join(v, 'HR'))]
        if missing:
            raise Refusal(f'--val {missing[0]}: not a benchmark folder with HR/ and LR_bicubic/X4/.')
    except (Refusal, ValueError, PluginError) as err:
        parser.exit(2, f'{parser.prog}: error: {err}\n')
    scale = base['scale']
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    ensure_data(args.data, scale)
    folders = args.val or [os.path.join(args.data, 'benchmark', 'demo_val')]
    runs = {'defaults': frozenset(), 'fast': switches}
    names = {key: f"converge_{key}{'_tiny' if args.tiny else ''}" for key in runs}
    procs = {}
    for key, sw in runs.items():
        opt = training_options(base, names[key], args.data, sw, args)
        path = os.path.join(args.out, f'{names[key]}.yml')
        with open(path, 'w') as f:
            yaml.safe_dump(opt, f, sort_keys=False)
        log = open(os.path.join(args.out, f'{names[key]}.stdout'), 'w')
        cmd = [sys.executable, '-m', 'igan_basicsr.train', '-opt', path] + import_arguments(args.imports)
        print(f"{key}: {' '.join(cmd)} ({' '.join(yaml_lines(sw, args.compile_backend)) or 'no switches'})",
              flush=True)
        procs[key] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log, time.perf_counter())
        if args.sequential:
            wait_for({key: procs[key]}, start, args.time_limit)
    codes, walls = wait_for(procs, start, args.time_limit)
    print(f'trainings done in {time.perf_counter() - start:.0f} s: exit codes {codes}', flush=True)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    network_g = copy.deepcopy(base['network_g'])
    if args.tiny:
        network_g.update(TINY_NET['IGAN'])
    result = {'fast': sorted(switches), 'fast_yaml': yaml_lines(switches, args.compile_backend), 'iters': args.iters,
              'exit_codes': codes, 'wall_s': walls, 'parallel': not args.sequential, 'runs': {}}
    for key in runs:
        folder = os.path.join('experiments', names[key])
        logs = sorted(f for f in os.listdir(folder) if f.startswith('train_') and f.endswith('.log')) \
            if os.path.isdir(folder) else []
        points = read_log(os.path.join(folder, logs[-1])) if logs else []
        psnr = {}
        for it in range(args.ckpt_every, args.iters + 1, args.ckpt_every):
            weights = os.path.join(folder, 'models', f'net_g_{it}.pth')
            if os.path.isfile(weights):
                psnr[it] = score(network_g, weights, folders, scale, device)
        result['runs'][key] = {'log': points, 'psnr': psnr}
    result.update(compare_runs(result, args))
    with open(os.path.join(args.out, 'converge.json'), 'w') as f:
        json.dump(result, f, indent=1)
    text = converge_report(result, args, folders)
    with open(os.path.join(args.out, 'converge.md'), 'w') as f:
        f.write(text)
    print('\n' + text)
    return 0 if all(c == 0 for c in codes.values()) else 1


def wait_for(procs, start, limit):
    """Exit codes and wall seconds of the trainings; past `limit` seconds from `start` they are stopped ('stopped')."""
    codes, walls = {}, {}
    while len(codes) < len(procs):
        for key, (proc, log, began) in procs.items():
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


def compare_runs(result, args):
    d, f = result['runs'].get('defaults', {}), result['runs'].get('fast', {})
    found = {}
    tail = args.iters - args.iters // 5
    last = [statistics.mean([p[1] for p in r.get('log', []) if p[0] > tail] or [math.nan]) for r in (d, f)]
    found['last_fifth_loss'] = {'defaults': last[0], 'fast': last[1], 'from_iter': tail + 1,
                                'relative': last[1] / last[0] - 1 if last[0] else None}
    paired = [(a[1], b[1]) for a, b in zip(d.get('log', []), f.get('log', [])) if a[0] == b[0]]
    found['paired_points'] = len(paired)
    final = args.iters
    dp, fp = d.get('psnr', {}).get(final), f.get('psnr', {}).get(final)
    if dp and fp:
        found['final_psnr_gap'] = {name: fp[name] - dp[name] for name in dp if name in fp}
    ok_psnr = bool(dp and fp) and all(gap >= -ACCEPT_DB for gap in found.get('final_psnr_gap', {}).values())
    rel = found['last_fifth_loss']['relative']
    ok_loss = rel is not None and not math.isnan(rel) and rel <= ACCEPT_LOSS
    found['accepted'] = ok_psnr and ok_loss and all(c == 0 for c in result['exit_codes'].values())
    return found


def converge_report(result, args, folders):
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
    its = sorted(set(runs['defaults']['psnr']) | set(runs['fast']['psnr']), key=int)
    for it in its:
        cells = []
        for n in names:
            a = runs['defaults']['psnr'].get(it, {}).get(n)
            b = runs['fast']['psnr'].get(it, {}).get(n)
            cells += [f'{a:.3f}' if a is not None else '-', f'{b:.3f}' if b is not None else '-',
                      f'{b - a:+.3f}' if a is not None and b is not None else '-']
        lines.append(f'| {it} | ' + ' | '.join(cells) + ' |')
    width = max(args.iters // 10, args.print_freq)
    dm = window_means(runs['defaults']['log'], width)
    fm = window_means(runs['fast']['log'], width)
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
                  + (', both runs sharing the GPU: not a speed figure' if result['parallel'] else '') + '): '
                  + ', '.join(f'{k} {v:.3f}' for k, v in times.items()) + '.']
    last = result['last_fifth_loss']
    gaps = result.get('final_psnr_gap', {})
    lines += ['', f"Last fifth (iterations {last['from_iter']}-{args.iters}): mean L1 defaults {last['defaults']:.5f}, "
                  f"fast {last['fast']:.5f} ({last['relative']:+.2%})." if last['relative'] is not None else '',
              'Final PSNR gap (fast - defaults): ' + (', '.join(f'{k} {v:+.3f} dB' for k, v in gaps.items()) or 'none'),
              f'Accepted when the fast run is at most {ACCEPT_DB} dB below on every set (the seed-to-seed spread '
              f'of short runs, 0.02-0.06 dB) and its last-fifth L1 at most {ACCEPT_LOSS:.0%} higher: '
              + ('**accepted**.' if result['accepted'] else '**not accepted**.')]
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
