"""Reading and writing checkpoints safely: tensors only (a .safetensors file is never unpickled, a .pth one is read
by torch.load with weights_only=True), every way a file can be unusable as one CheckpointError, files written whole
or not at all, and a state_dict checked against a network before it is loaded."""
import os
import pickle
import zipfile

import torch

from .atomic import replacing

SAFETENSORS = '.safetensors'
EXTRA = "pip install 'igan-basicsr[safetensors]'"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with what is wrong and where."""


def listing(keys, limit=8):
    """`keys` sorted and joined, at most `limit` of them and how many more."""
    keys = sorted(keys)
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def is_safetensors(path):
    return os.path.splitext(str(path))[1].lower() == SAFETENSORS


def _safetensors():
    try:
        import safetensors.torch
    except ImportError:
        raise CheckpointError(f'.safetensors files need the safetensors package: {EXTRA}') from None
    return safetensors.torch


def _load_safetensors(path):
    reader = _safetensors()
    if not os.path.isfile(path):
        raise CheckpointError(f'{path}: no such checkpoint file.')
    try:
        return reader.load_file(path)
    except Exception as err:  # safetensors raises its own SafetensorError (an Exception) for every bad file
        reason = str(err).strip().splitlines()[0]
        raise CheckpointError(f'{path}: unreadable, probably truncated or not a safetensors file ({reason}).') from None


def load_checkpoint(path):
    """The tensors of a checkpoint file: a .safetensors file's state_dict, or torch.load with weights_only=True;
    every way a file can be unusable is a CheckpointError."""
    if is_safetensors(path):
        return _load_safetensors(path)
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f'{path}: no such checkpoint file.') from None
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[0]
        raise CheckpointError(f'{path}: refused: loading it would need to run code from the file ({reason}). '
                              'Re-save it as a plain state_dict of tensors.') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        reason = str(err).strip().splitlines()[0]
        raise CheckpointError(f'{path}: unreadable, probably truncated or not a PyTorch file ({reason}).') from None


def extract_state_dict(obj, path, param_key='params'):
    """The state_dict in a loaded checkpoint: BasicSR's {'params': ...} or a plain one, without 'module.'."""
    if isinstance(obj, dict) and isinstance(obj.get(param_key), dict):
        obj = obj[param_key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        found = listing(obj.keys()) if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path}: not a state_dict of tensors nor a BasicSR checkpoint with '{param_key}' "
                              f'(top level holds: {found}).')
    return {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in obj.items()}


def check_state_dict(net, state, path=''):
    """Raise a CheckpointError naming every missing, unexpected or mis-shaped key of `state` for `net`."""
    own = net.state_dict()
    missing, extra = own.keys() - state.keys(), state.keys() - own.keys()
    shapes = [f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
              for k in own.keys() & state.keys() if state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f'missing keys: {listing(missing)}')
    if extra:
        problems.append(f'unexpected keys: {listing(extra)}')
    if shapes:
        problems.append(f'shape mismatches (checkpoint vs network): {listing(shapes, 4)}')
    if problems:
        raise CheckpointError(f'{path}: does not fit {type(net).__name__}: ' + '; '.join(problems) + '.')


def save_state_dict(state, path, param_key='params'):
    """Write `state` (a network's state_dict) to `path` whole or not at all: a .safetensors file holds its tensors
    as they are (what spandrel and the other safetensors loaders read), a .pth file BasicSR's {param_key: state}."""
    with replacing(path) as partial:
        if is_safetensors(path):
            # safetensors stores dense tensors: channels_last weights are packed, shared storage copied.
            _safetensors().save_file({k: v.detach().cpu().contiguous().clone() for k, v in state.items()}, partial,
                                     metadata={'format': 'pt'})
        else:
            torch.save({param_key: state}, partial)
