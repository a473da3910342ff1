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
import yaml
from torch.utils.flop_counter import FlopCounterMode

from igan_basicsr.comparison.measure import sync
from igan_basicsr.plugins import PluginError

IGAN_OPT = os.path.join('options', 'train_IGAN_x4.yml')
RCAN_OPT = os.path.join('options', 'compare', 'RCAN_x4.yml')
DEFAULTS = 'defaults'
# A variant is a set of these joined by '+' (in this order in its name); 'defaults' is none of them.
SWITCHES = {
    'fp32': 'float32 convolutions (TF32 off; CUDA only)',
    'bf16': 'train: amp: bf16 (and val: amp: bf16 where inference is timed)',
    'fp16': 'train: amp: fp16, with a grad scaler (and val: amp: fp16; CUDA only)',
    'channels_last': 'channels_last: true',
    'fused': 'train: optim_g: fused: true',
    'compile': 'compile: true',
    'compile-ro': 'compile: {mode: reduce-overhead} (CUDA graphs; CUDA only)',
    'regional': 'compile: {regional: true} (with compile or compile-ro: the repeated blocks one by one)',
}
CUDA_ONLY = ('fp32', 'fp16', 'compile-ro')
EXCLUSIVE = (('compile', 'compile-ro'), ('fp32', 'bf16'), ('fp32', 'fp16'), ('bf16', 'fp16'))
# The training models' optimizer built in-process: train: optim_g of options/train_IGAN_x4.yml.
ADAM = {'type': 'Adam', 'lr': 1e-4, 'betas': [0.9, 0.99]}
# Smaller networks for --tiny (CPU tests): widths and depths only, the option files' other settings kept.
# Four alike groups each: enough of the parameters for compile: {regional: true} (any variant may be the fastest).
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


def check_run(device, compile_backend='inductor', networks=None):
    """Refusal for a run that could only fail once started: a missing CUDA device, an unknown torch.compile
    backend, or a network_g (of `networks`: {option file: network_g}) that basicsr cannot build."""
    if device == 'cuda' and not torch.cuda.is_available():
        raise Refusal('--device cuda: no CUDA device here.')
    if compile_backend not in torch._dynamo.list_backends(exclude_tags=()):
        raise Refusal(f'--compile-backend {compile_backend}: not a torch.compile backend (e.g. inductor, or eager '
                      'to check the path; torch._dynamo.list_backends(exclude_tags=()) lists them).')
    from basicsr.archs import build_network
    for path, network_g in (networks or {}).items():
        try:
            build_network(copy.deepcopy(network_g))
        except Exception as err:  # whatever the network's constructor raises, named with its file
            raise Refusal(f'{path}: network_g cannot be built: {type(err).__name__}: {err}') from None


class Variant:
    """A set of SWITCHES keys: what one timed model has on."""

    def __init__(self, switches=()):
        self.switches = frozenset(switches)

    @property
    def compiled(self):
        return bool(self.switches & {'compile', 'compile-ro'})

    def combo(self):
        return '+'.join(s for s in SWITCHES if s in self.switches) or DEFAULTS

    def precision(self, device):
        """What the convolutions compute in: the autocast type, else fp32 (CPU, or TF32 off) or tf32."""
        amp = self.switches & {'bf16', 'fp16'}
        return next(iter(amp)) if amp else 'tf32' if device == 'cuda' and 'fp32' not in self.switches else 'fp32'


def parse_variant(text, device):
    """'bf16+channels_last' (or 'channels-last+bf16') -> Variant; Refusal with what to write instead."""
    if text == DEFAULTS:
        return Variant()
    names = {s.replace('_', '-'): s for s in SWITCHES}
    tokens = text.replace('_', '-').split('+')
    unknown = [t for t in tokens if t not in names]
    if unknown:
        raise Refusal(f"variant {text!r}: unknown switch {unknown[0]!r}; switches are {', '.join(SWITCHES)}, joined "
                      "by '+' (e.g. bf16+channels_last).")
    switches = {names[t] for t in tokens}
    for a, b in EXCLUSIVE:
        if {a, b} <= switches:
            raise Refusal(f'variant {text!r}: {a} and {b} exclude each other.')
    if 'regional' in switches and not switches & {'compile', 'compile-ro'}:
        raise Refusal(f"variant {text!r}: regional says how to compile; add compile or compile-ro "
                      "(e.g. compile+regional).")
    needs = [s for s in CUDA_ONLY if s in switches and device != 'cuda']
    if needs:
        raise Refusal(f'variant {text!r}: {needs[0]} needs CUDA; this run is on {device}.')
    return Variant(switches)


class SwitchOptions(NamedTuple):
    """The options that turn switches on: top level, train (over the given optim_g) and val."""
    top: dict
    train: dict
    val: dict


def switch_options(switches, optim_g, compile_backend='inductor'):
    """The SwitchOptions of `switches` (fp32 has none: it is PyTorch's global TF32 setting)."""
    switches, top, train, val = set(switches), {}, {'optim_g': copy.deepcopy(optim_g)}, {}
    if 'channels_last' in switches:
        top['channels_last'] = True
    if switches & {'compile', 'compile-ro'}:
        top['compile'] = dict({} if compile_backend == 'inductor' else {'backend': compile_backend},
                              **{'mode': 'reduce-overhead'} if 'compile-ro' in switches else {},
                              **{'regional': True} if 'regional' in switches else {}) or True
    for amp in {'bf16', 'fp16'} & switches:
        train['amp'] = val['amp'] = amp
    if 'fused' in switches:
        train['optim_g']['fused'] = True
    return SwitchOptions(top, train, val)


def yaml_lines(switches, compile_backend='inductor'):
    """The training option-file lines of `switches`: the top-level ones (a mapping in flow style), then train:."""
    top, train, _ = switch_options(switches, {}, compile_backend)
    train = {k: v for k, v in train.items() if v}  # optim_g only where it says fused
    lines = [yaml.safe_dump({k: v}, default_flow_style=True, width=1000).strip()[1:-1] for k, v in top.items()]
    return lines + (yaml.safe_dump({'train': train}).splitlines() if train else [])


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


def flops_of(call):
    """FLOPs of one call of `call`, counted eagerly (compiled code hides its operators from the counter)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.compiler.set_stance('force_eager'):
        call()
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
