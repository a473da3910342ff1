"""What turns an LR batch into an SR batch for `basicsr infer`: an IGAN checkpoint alone, any registered network
through its option file, or an exported ONNX model run by onnxruntime."""
import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from basicsr.models import build_model

from ..archs.igan_checkpoint import igan_arch_options, is_released_layout, released_arch_options
from ..checkpoints import CheckpointError, extract_state_dict, load_checkpoint
from ..options import OptionError, load_options
from ..plugins import PluginError, load_plugins

# Keys of the ONNX model's metadata that `basicsr infer --onnx` reads (written by onnx_export).
ONNX_SCALE, ONNX_MIN_SIZE, ONNX_BYTES_PER_PIXEL = 'scale', 'min_size', 'bytes_per_lr_pixel'


class EngineError(ValueError):
    """Weights, option file or ONNX model that cannot be used, with what to do."""


@dataclass
class Engine:
    """forward: 1x3xHxW float32 RGB in [0, 1] on `device` -> 1x3x(sH)x(sW), any float dtype.

    module: the torch network (None for ONNX), for the memory estimate and the export.
    bytes_per_pixel: the ONNX model's recorded memory per LR pixel (torch networks are measured instead).
    """
    forward: Callable[[torch.Tensor], torch.Tensor]
    scale: int
    min_size: int
    device: torch.device
    description: str
    module: torch.nn.Module | None = None
    bytes_per_pixel: float | None = None


def _checkpoint_network(path):
    """network_g options for an IGAN checkpoint in either layout, EMA weights preferred."""
    ckpt = load_checkpoint(path)
    key = 'params_ema' if isinstance(ckpt, dict) and isinstance(ckpt.get('params_ema'), dict) else 'params'
    state = extract_state_dict(ckpt, path, key)
    options = released_arch_options(state, path) if is_released_layout(state) else igan_arch_options(state, path)
    return dict(type='IGAN', **options), key


def _model_runner(model):
    """The model's own test step (its padding, its switches) as a function of the LR batch."""
    def forward(lq):
        model.lq = lq
        model.test()
        return model.output
    return forward


def _build(opt, description):
    try:
        model = build_model(opt)
    except CheckpointError as err:
        raise EngineError(str(err)) from None
    except (KeyError, TypeError, ValueError, RuntimeError, OSError) as err:
        raise EngineError(f'{description}: cannot build the model: {err}') from None
    net = model.get_bare_model(model.net_g)
    return Engine(_model_runner(model), opt['scale'], getattr(net, 'min_size', 1), model.device, description, net)


def _base_options(device):
    return {'is_train': False, 'dist': False, 'num_gpu': 1 if device.type == 'cuda' else 0, 'val': {}}


def from_weights(path, device, scale=None):
    """An IGAN built from nothing but its checkpoint (released or BasicSR layout)."""
    try:
        network, key = _checkpoint_network(path)
    except CheckpointError as err:
        raise EngineError(str(err)) from None
    if scale is not None and scale != network['upscale']:
        raise EngineError(f"{path}: this is an x{network['upscale']} checkpoint, but --scale {scale} was asked for.")
    opt = dict(_base_options(device), model_type='IGANModel', scale=network['upscale'], network_g=network,
               path={'pretrain_network_g': path, 'param_key_g': key, 'strict_load_g': True})
    sizes = ', '.join(f'{k}={v}' for k, v in network.items() if k not in ('type', 'num_in_ch', 'num_out_ch'))
    return _build(opt, f'IGAN x{network["upscale"]} ({sizes}) from {path}')


def from_option_file(path, device, weights=None, scale=None, imports=()):
    """The option file's network_g and model_type, weights from --weights or its path: pretrain_network_g;
    `imports`: modules to import first (plugins that register on import)."""
    try:
        load_plugins(imports)
    except PluginError as err:
        raise EngineError(str(err)) from None
    try:
        opt = load_options(path)
    except OptionError as err:
        raise EngineError(str(err)) from None
    opt_path = dict(opt.get('path') or {})
    if weights:
        opt_path['pretrain_network_g'] = weights
    if not opt_path.get('pretrain_network_g'):
        raise EngineError(f'{path}: names no weights (path: pretrain_network_g); pass --weights W.pth.')
    if scale is not None and scale != opt['scale']:
        raise EngineError(f"{path}: scale is {opt['scale']}, but --scale {scale} was asked for.")
    opt = dict(opt, **_base_options(device), path=opt_path, model_type=opt.get('model_type', 'SRModel'))
    opt['network_g'] = copy.deepcopy(opt['network_g'])
    return _build(opt, f"{opt['network_g']['type']} x{opt['scale']} ({opt['model_type']}) from "
                  f"{opt_path['pretrain_network_g']}")


def onnx_session(path, device):
    """An onnxruntime session on `device`; EngineError when onnxruntime or the provider is missing."""
    try:
        import onnxruntime
    except ImportError:
        raise EngineError('--onnx needs onnxruntime: pip install -e ".[onnx]" in the repository') from None
    provider = 'CUDAExecutionProvider' if device.type == 'cuda' else 'CPUExecutionProvider'
    if provider not in onnxruntime.get_available_providers():
        raise EngineError(f'onnxruntime has no {provider} here (install onnxruntime-gpu, or use --device cpu).')
    try:
        return onnxruntime.InferenceSession(path, providers=[provider])
    except Exception as err:  # onnxruntime raises its own exception types, one per failure kind
        raise EngineError(f'{path}: onnxruntime cannot load it: {str(err).splitlines()[0]}') from None


def from_onnx(path, device, scale=None):
    """An ONNX model written by scripts/deployment/export_onnx.py, run by onnxruntime."""
    session = onnx_session(path, device)
    meta = session.get_modelmeta().custom_metadata_map
    if ONNX_SCALE not in meta or ONNX_BYTES_PER_PIXEL not in meta:
        raise EngineError(f'{path}: no {ONNX_SCALE!r} or {ONNX_BYTES_PER_PIXEL!r} in its metadata; export it with '
                          'scripts/deployment/export_onnx.py.')
    model_scale = int(meta[ONNX_SCALE])
    if scale is not None and scale != model_scale:
        raise EngineError(f'{path}: this is an x{model_scale} model, but --scale {scale} was asked for.')
    name = session.get_inputs()[0].name

    def forward(lq):
        out = session.run(None, {name: np.ascontiguousarray(lq.detach().cpu().numpy(), dtype=np.float32)})[0]
        return torch.from_numpy(out).to(lq.device)

    return Engine(forward, model_scale, int(meta.get(ONNX_MIN_SIZE, 1)), device, f'ONNX x{model_scale} {path}',
                  bytes_per_pixel=float(meta[ONNX_BYTES_PER_PIXEL]))
