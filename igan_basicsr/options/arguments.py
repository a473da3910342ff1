"""Sections of an option file against the classes and functions basicsr calls with them: network_g against the
registered network's constructor (and the constructor's own complaints, built on the meta device), an optimizer,
scheduler, loss or metric against its arguments."""
import inspect

import torch
from basicsr.utils.registry import ARCH_REGISTRY

from ..suggest import closest
from .keys import MISSING, missing, unregistered


def argument_errors(where, section, target, passed=()):
    """One line per key of `section` that `target` (the class or function basicsr calls with it) has no argument
    for, and per argument it needs that the section lacks; `passed` are the arguments basicsr gives itself."""
    signature = inspect.signature(target).parameters
    params = {name: p for name, p in signature.items()
              if name not in passed and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    errors = [f'{where}.{name}{MISSING}' for name, p in params.items()
              if p.default is p.empty and name not in section]
    if any(p.kind == p.VAR_KEYWORD for p in signature.values()):
        return errors
    target_name = getattr(target, '__name__', repr(target))
    for key in section:
        if key != 'type' and key not in params:
            close = closest(key, params)
            hint = f'; did you mean {close}?' if close else '.'
            errors.append(f"{where}.{key}: {target_name} has no argument {key}{hint} It takes: {', '.join(params)}.")
    return errors


def network_errors(opt):
    """network_g's type, upscale, argument names and, by building it on the meta device (no memory, no weights),
    the constructor's own complaints about its values."""
    net = opt.get('network_g')
    if not isinstance(net, dict):
        return []
    errors = missing(net, ('type', ), 'network_g.') + unregistered(ARCH_REGISTRY, net.get('type'), 'network_g.type')
    upscale, scale = net.get('upscale'), opt.get('scale')
    if upscale is not None and scale is not None and upscale != scale:
        errors.append(f'network_g.upscale: {upscale} differs from scale: {scale}; set both to the same factor.')
    if errors or net.get('type') is None:
        return errors
    arch = ARCH_REGISTRY.get(net['type'])
    errors = argument_errors('network_g', net, arch)
    if not errors:
        try:
            with torch.device('meta'):
                arch(**{k: v for k, v in net.items() if k != 'type'})
        except (ValueError, TypeError, AssertionError) as err:
            errors.append(f'network_g: {_first_line(err)}')
        except Exception:  # noqa: BLE001 - a network that cannot be built without memory is checked when it is built
            pass
    return errors


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
