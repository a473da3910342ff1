"""What the benchmarks share: the one description of the speed switches (variants and the option-file lines that turn
them on), training models built in-process, random batches, FLOPs of a step, medians timed in turns, one-line
refusals and subcommands."""
import argparse
import contextlib
import copy
import os
import statistics
import sys
import time
from typing import NamedTuple

import torch
from torch.utils.flop_counter import FlopCounterMode

from igan_basicsr.comparison.measure import sync
from igan_basicsr.plugins import PluginError

IGAN_OPT = os.path.join('options', 'train_IGAN_x4.yml')
RCAN_OPT = os.path.join('options', 'compare', 'RCAN_x4.yml')
DEFAULTS = 'defaults'
# A variant is a set of these joined by '+' (in this order in its name); 'defaults' is none of them.
SWITCHES = {
    'fp32': 'float32 convolutions (TF32 off)',
    'bf16': 'train: amp: bf16 (and val: amp: bf16 where inference is timed)',
    'fp16': 'train: amp: fp16, with a grad scaler (and val: amp: fp16)',
    'channels_last': 'channels_last: true',
    'fused': 'train: optim_g: fused: true',
    'compile': 'compile: true',
    'compile-ro': 'compile: {mode: reduce-overhead} (CUDA graphs)',
    'regional': 'compile: {regional: true} (with compile or compile-ro: the repeated blocks one by one)',
}
CUDA_ONLY = ('fp32', 'fp16', 'compile-ro')
EXCLUSIVE = (('compile', 'compile-ro'), ('fp32', 'bf16'), ('fp32', 'fp16'), ('bf16', 'fp16'))
# Smaller networks for --tiny (CPU tests): widths and depths only, the option files' other settings kept.
# Four alike groups each: enough of the parameters for compile: {regional: true} (any variant may be the fastest).
ADAM = {'type': 'Adam', 'lr': 1e-4, 'betas': [0.9, 0.99]}  # the training models' optimizer built in-process
TINY_NET = {'IGAN': {'num_feat': 8, 'num_group': 4, 'num_block': 1},
            'RCAN': {'num_feat': 16, 'num_group': 4, 'num_block': 1}}


class Refusal(Exception):
    """Arguments that cannot be run; the message is the one line printed."""


class OneLineParser(argparse.ArgumentParser):
    """Refusals on one line (exit 2), without the usage block."""

    def error(self, message):
        self.exit(2, f'{self.prog}: error: {message}\n')

    @contextlib.contextmanager
    def refusing(self):
        """A Refusal, an option file's or a plugin's error inside the block: one line and exit 2."""
        try:
            yield
        except (Refusal, ValueError, PluginError) as err:
            self.error(str(err))


def run_command(prog, doc, commands, argv=None):
    """Runs `commands[COMMAND](prog, arguments)` for `prog COMMAND arguments...`; `doc` is the usage."""
    parser = OneLineParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=list(commands))
    parser.add_argument('args', nargs=argparse.REMAINDER, help="the command's arguments (COMMAND -h lists them)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return commands[args.command](f'{prog} {args.command}', args.args)


def check_positive(args, *names):
    """Refusal naming the first of the arguments `names` below 1."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise Refusal(f"--{name.replace('_', '-')} must be at least 1, got {value}.")


class Variant:
    """Switches (a frozenset of SWITCHES keys) and a batch size; `best` marks one that is resolved later."""

    def __init__(self, switches=(), batch=None, best=False, note=''):
        self.switches, self.batch, self.best, self.note = frozenset(switches), batch, best, note

    @property
    def compiled(self):
        return bool(self.switches & {'compile', 'compile-ro'})

    def combo(self):
        return '+'.join(s for s in SWITCHES if s in self.switches) or DEFAULTS

    def name(self, base_batch=None):
        return self.combo() + ('' if self.batch in (None, base_batch) else f'@{self.batch}')

    def precision(self, device):
        """What the convolutions compute in: the autocast type, else fp32 (CPU, or TF32 off) or tf32."""
        amp = self.switches & {'bf16', 'fp16'}
        return next(iter(amp)) if amp else 'tf32' if device == 'cuda' and 'fp32' not in self.switches else 'fp32'


def runs_on(name, device):
    """Whether the variant `name` needs nothing `device` lacks (for default lists; parse_variant refuses)."""
    return device == 'cuda' or not set(name.partition('@')[0].split('+')) & set(CUDA_ONLY)


def parse_variant(text, device, allow_best=False):
    """'bf16+channels_last@32' -> Variant; Refusal with what to write instead."""
    combo, _, batch = text.partition('@')
    if batch and (not batch.isdigit() or int(batch) < 1):
        raise Refusal(f'variant {text!r}: the batch after @ must be a positive integer.')
    batch = int(batch) if batch else None
    if combo == 'best':
        if not allow_best:
            raise Refusal(f"variant {text!r}: 'best' (the first model's fastest combination) is for --rcan-variants.")
        return Variant(batch=batch, best=True)
    if combo == DEFAULTS:
        return Variant(batch=batch)
    names = {s.replace('_', '-'): s for s in SWITCHES}
    tokens = combo.replace('_', '-').split('+')
    unknown = [t for t in tokens if t not in names]
    if unknown:
        raise Refusal(f"variant {text!r}: unknown switch {unknown[0]!r}; switches are {', '.join(SWITCHES)}, joined "
                      "by '+', optionally @BATCH (e.g. bf16+channels_last@32).")
    switches = {names[t] for t in tokens}
    for a, b in EXCLUSIVE:
        if {a, b} <= switches:
            raise Refusal(f'variant {text!r}: {a} and {b} exclude each other.')
    if 'regional' in switches and not switches & {'compile', 'compile-ro'}:
        raise Refusal(f"variant {text!r}: regional says how to compile; add compile or compile-ro "
                      "(e.g. compile+regional).")
    needs = [s for s in CUDA_ONLY if s in switches and device != 'cuda']
    if needs:
        raise Refusal(f'variant {text!r}: {needs[0]} needs CUDA ({SWITCHES[needs[0]]}); this run is on {device}.')
    return Variant(switches, batch)


class SwitchOptions(NamedTuple):
    """The options that turn switches on: top level, train (over the given optim_g) and val."""
    top: dict
    train: dict
    val: dict


def switch_options(switches, optim_g, compile_backend='inductor'):
    """The SwitchOptions of `switches` (fp32 has none: it is PyTorch's global TF32 setting)."""
    top, train, val = {}, {'optim_g': copy.deepcopy(optim_g)}, {}
    if 'channels_last' in switches:
        top['channels_last'] = True
    backend = {} if compile_backend == 'inductor' else {'backend': compile_backend}
    if 'compile' in switches:
        top['compile'] = backend or True
    if 'compile-ro' in switches:
        top['compile'] = dict(backend, mode='reduce-overhead')
    if 'regional' in switches:
        top['compile'] = dict(top['compile'] if isinstance(top['compile'], dict) else {}, regional=True)
    for amp in {'bf16', 'fp16'} & set(switches):
        train['amp'] = val['amp'] = amp
    if 'fused' in switches:
        train['optim_g']['fused'] = True
    return SwitchOptions(top, train, val)


def yaml_lines(switches, compile_backend='inductor'):
    """The training option-file lines of `switches` (top level and train:)."""
    top, train, _ = switch_options(switches, {}, compile_backend)
    lines = [f'{k}: {_yaml_value(v)}' for k, v in top.items()]
    sub = [f"  amp: {train['amp']}"] if 'amp' in train else []
    sub += ['  optim_g:', '    fused: true'] if train['optim_g'].get('fused') else []
    return lines + (['train:'] + sub if sub else [])


def _yaml_value(value):
    if value is True:
        return 'true'
    if isinstance(value, dict):
        return '{' + ', '.join(f'{k}: {_yaml_value(v)}' for k, v in value.items()) + '}'
    return str(value)


def train_options(network_g, scale, model_type='SwitchSRModel', device='cpu', train=None, **top):
    """Options for building a training model in-process (no data, no files): Adam 1e-4, L1, constant lr."""
    return dict({
        'name': 'bench', 'model_type': model_type, 'scale': scale, 'num_gpu': 1 if device == 'cuda' else 0,
        'is_train': True, 'dist': False, 'rank': 0, 'world_size': 1, 'network_g': copy.deepcopy(network_g),
        'path': {'pretrain_network_g': None},
        'train': dict({'ema_decay': 0, 'optim_g': copy.deepcopy(ADAM),
                       'scheduler': {'type': 'MultiStepLR', 'milestones': [10**9], 'gamma': 0.5},
                       'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}}, **(train or {})),
    }, **top)


def random_batch(batch, patch, scale, seed=0):
    """A training batch of `batch` LR patches of `patch` pixels and their GT (timing does not depend on pixels)."""
    gen = torch.Generator().manual_seed(seed)
    return {'lq': torch.rand(batch, 3, patch, patch, generator=gen),
            'gt': torch.rand(batch, 3, patch * scale, patch * scale, generator=gen)}


def training_step(model, data):
    """One optimize_parameters of `model` on `data`, as a callable."""
    def step():
        model.feed_data(data)
        model.optimize_parameters(1)
    return step


def train_step_flops(model, data):
    """FLOPs of one optimize_parameters (forward, backward, optimizer), counted eagerly."""
    counter = FlopCounterMode(display=False)
    with counter, torch.compiler.set_stance('force_eager'):
        training_step(model, data)()
    return counter.get_total_flops()


def interleaved_medians(calls, rounds, device='cpu'):
    """Median seconds of each callable in `calls` (name -> function), timed in turns, one call of each per
    round, so that a machine that slows down for a while slows every candidate alike."""
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            sync(device)
            start = time.perf_counter()
            call()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}
