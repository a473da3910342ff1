"""SwitchSRModel's option-file switches and their checks: what `basicsr train|test` reports before it creates any
folder, and which of a network's blocks `compile: {regional: true}` compiles one by one."""
import inspect
from typing import NamedTuple

import torch
from torch import nn

from ..suggest import closest
from .saving import FORMATS

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
# compile: {regional: true} refuses blocks that hold less: the rest of the network would run eager.
REGIONAL_MIN_SHARE = 0.5
# The keys of the switches, per section of the option file.
SWITCH_KEYS = {'': ('channels_last', 'compile'), 'train': ('amp', ),
               'val': ('amp', 'tf32', 'tile', 'tile_pad', 'self_ensemble'), 'logger': ('save_checkpoint_format', )}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def switch_errors(opt):
    """The switches in `opt` that are not valid, one line each naming the key: basicsr's checks leave
    them alone, and `basicsr train|test` reports these before it creates any folder. What depends on the device
    or the network (fp16 off CUDA, the smallest tile) is checked when the model is built."""
    val, train = opt.get('val') or {}, opt.get('train') or {}
    errors = [f'{where}{key}={section[key]!r} must be true or false.'
              for where, section, key in (('', opt, 'channels_last'), ('val: ', val, 'self_ensemble'),
                                          ('val: ', val, 'tf32'))
              if not isinstance(section.get(key, False), bool)]
    compile_opt = opt.get('compile', False)
    if not isinstance(compile_opt, (bool, dict)):
        errors.append(f'compile={compile_opt!r} must be true, false or a mapping of torch.compile arguments '
                      '(e.g. {mode: max-autotune}).')
    elif isinstance(compile_opt, dict):
        errors += _compile_errors(compile_opt)
    for where, section in (('train', train), ('val', val)):
        amp = section.get('amp')
        if amp is not None and amp not in AMP_DTYPES:
            errors.append(f'{where}: amp={amp!r} is not one of {tuple(AMP_DTYPES)} (or ~ for float32).')
    fmt = (opt.get('logger') or {}).get('save_checkpoint_format', 'pth')
    if fmt not in FORMATS:
        errors.append(f'logger: save_checkpoint_format={fmt!r} is not one of {FORMATS}.')
    tile, tile_pad = val.get('tile'), val.get('tile_pad', 0)
    if tile is None and 'tile_pad' in val:
        errors.append('val: tile_pad is set but tile is not; set val: tile (LR pixels per tile) as well.')
    if tile is not None and not (_is_int(tile) and tile >= 1):
        errors.append(f'val: tile={tile!r} must be an integer of at least 1 (LR pixels per tile).')
    if tile is not None and not (_is_int(tile_pad) and tile_pad >= 0):
        errors.append(f'val: tile_pad={tile_pad!r} must be an integer >= 0.')
    return errors


def _compile_errors(compile_opt):
    """The keys of a `compile:` mapping that neither torch.compile nor `regional` takes, and a non-bool regional:
    caught before the run, not as a TypeError when the network is built."""
    keys = [k for k in inspect.signature(torch.compile).parameters if k != 'model'] + ['regional']
    errors = []
    for key in compile_opt:
        if key not in keys:
            close = closest(key, keys)
            hint = f'did you mean {close}?' if close else f"it takes {', '.join(keys)}."
            errors.append(f'compile: {key}: unknown key; {hint}')
    if not isinstance(compile_opt.get('regional', False), bool):
        errors.append(f"compile: regional={compile_opt['regional']!r} must be true or false.")
    return errors


class Blocks(NamedTuple):
    """A network's repeated blocks: where they are, the modules, and the share of its parameters they hold."""
    name: str
    modules: list
    share: float


def repeated_blocks(net):
    """The Blocks compile: {regional: true} compiles one by one: the children of the network's largest (by
    parameters) nn.Sequential or nn.ModuleList of at least two alike modules (one class, the same parameter
    shapes), e.g. IGAN's and RCAN's groups, EDSR's residual blocks, SwinIR's RSTBs. ValueError where there are
    none, or where they hold under REGIONAL_MIN_SHARE of the parameters (most of the network would stay eager)."""
    def size(module):
        return sum(p.numel() for p in module.parameters())

    def shapes(module):
        return [p.shape for p in module.parameters()]

    candidates = [(name, m) for name, m in net.named_modules()
                  if isinstance(m, (nn.Sequential, nn.ModuleList)) and len(m) >= 2
                  and len({type(child) for child in m}) == 1 and all(shapes(c) == shapes(m[0]) for c in m)]
    net_name = type(net).__name__
    if not candidates:
        raise ValueError(f'compile: regional needs repeated blocks (an nn.Sequential or nn.ModuleList of alike '
                         f'modules) and {net_name} has none; use compile: true.')
    name, blocks = max(candidates, key=lambda c: size(c[1]))
    found = Blocks(name, list(blocks), size(blocks) / max(size(net), 1))
    if found.share < REGIONAL_MIN_SHARE:
        raise ValueError(f'compile: regional: the largest run of alike blocks in {net_name} ({len(blocks)} '
                         f'{type(blocks[0]).__name__} in {name}) holds {found.share:.0%} of its parameters; '
                         'use compile: true.')
    return found
