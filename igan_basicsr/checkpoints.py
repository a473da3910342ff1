"""Reading checkpoints safely: tensors only (torch.load with weights_only=True), every way a file can be unusable
as one CheckpointError, and a state_dict checked against a network before it is loaded."""
import pickle
import zipfile

import torch


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with what is wrong and where."""


def listing(keys, limit=8):
    """`keys` sorted and joined, at most `limit` of them and how many more."""
    keys = sorted(keys)
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def load_checkpoint(path):
    """torch.load with weights_only=True, turning every way a file can be unusable into a CheckpointError."""
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
