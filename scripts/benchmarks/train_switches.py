"""The training switches the speed benchmarks time (bf16, channels_last, fused Adam, compile, CUDA graphs,
compilation per block) as variants, and the option-file lines that turn them on."""
import argparse
import copy
import os

IGAN_OPT = os.path.join('options', 'train_IGAN_x4.yml')
DEFAULTS = 'defaults'
SWITCHES = {
    'fp32': 'float32 convolutions (TF32 off)',
    'bf16': 'train: amp: bf16',
    'channels_last': 'channels_last: true',
    'fused': 'train: optim_g: fused: true',
    'compile': 'compile: true',
    'compile-ro': 'compile: {mode: reduce-overhead}',
    'regional': 'compile: {regional: true} (with compile or compile-ro: the repeated blocks one by one)',
}
CUDA_ONLY = ('fp32', 'compile-ro')
EXCLUSIVE = (('compile', 'compile-ro'), ('fp32', 'bf16'))
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
    if 'regional' in switches and not switches & {'compile', 'compile-ro'}:
        raise Refusal(f"variant {text!r}: regional says how to compile; add compile or compile-ro "
                      "(e.g. compile+regional).")
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
    if 'regional' in switches:
        top['compile'] = dict(top['compile'] if isinstance(top['compile'], dict) else {}, regional=True)
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
        value = {k: _yaml_value(v) for k, v in value.items()}
        return '{' + ', '.join(f'{k}: {v}' for k, v in value.items()) + '}'
    return str(value)
