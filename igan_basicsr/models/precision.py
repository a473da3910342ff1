"""Whether CUDA convolutions run float32 in TF32, read and set through PyTorch's per-backend setting
(`torch.backends.cudnn.conv.fp32_precision`) where it exists: reading the older `cudnn.allow_tf32` raises once
anything has used the newer setting."""
import contextlib

import torch

_CONV = getattr(torch.backends.cudnn, 'conv', None)
_NEW_API = _CONV is not None and hasattr(_CONV, 'fp32_precision')


def conv_tf32():
    """True when float32 convolutions on CUDA currently run in TF32."""
    return _CONV.fp32_precision == 'tf32' if _NEW_API else torch.backends.cudnn.allow_tf32


def set_conv_tf32(tf32):
    """Make float32 convolutions on CUDA run in TF32 (True) or in full float32 (False)."""
    if _NEW_API:
        _CONV.fp32_precision = 'tf32' if tf32 else 'ieee'
    else:
        torch.backends.cudnn.allow_tf32 = tf32


@contextlib.contextmanager
def conv_precision(tf32, device):
    """Convolutions on CUDA `device` in TF32 (`tf32=True`) or full float32 inside the block.

    The setting is touched only on CUDA and only when it differs: restoring it afterwards pins the value that
    cudnn.conv had inherited from torch.backends.fp32_precision, so later changes of that one stop reaching it.
    """
    if torch.device(device).type != 'cuda' or conv_tf32() == tf32:
        yield
        return
    set_conv_tf32(tf32)
    try:
        yield
    finally:
        set_conv_tf32(not tf32)
