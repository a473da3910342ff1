"""Where and how SwitchSRModel writes a network's weights. BasicSR's format: net_g_ITER.pth holding
{'params': ..., 'params_ema': ...}. With `logger: save_checkpoint_format: safetensors`, one tensor file per set of
weights, each a plain state_dict as safetensors loaders (spandrel, traiNNer-redux) read it: net_g_ITER.safetensors
(params) and, with EMA, net_g_ema_ITER.safetensors (params_ema)."""
import os

from ..checkpoints import SAFETENSORS

FORMATS = ('pth', 'safetensors')


def checkpoint_format(opt):
    return (opt.get('logger') or {}).get('save_checkpoint_format', 'pth')


def weights_file(path, param_key):
    """The file holding `param_key`'s weights of the safetensors checkpoint `path`: `path` itself for params,
    net_g_ema_1000.safetensors beside net_g_1000.safetensors for params_ema."""
    folder, name = os.path.split(path)
    label, sep, iteration = name[:-len(SAFETENSORS)].rpartition('_')
    if param_key == 'params' or not sep:
        return path
    return os.path.join(folder, f"{label}_{param_key.removeprefix('params_')}_{iteration}{SAFETENSORS}")


def network_file(folder, label, iteration, fmt, param_key='params'):
    """The file of `label`'s `param_key` weights at `iteration` ('latest' for the last) in the format `fmt`."""
    path = os.path.join(folder, f'{label}_{iteration}.{fmt}')
    return weights_file(path, param_key) if fmt == 'safetensors' else path
