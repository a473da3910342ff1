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


@contextlib.contextmanager
def conv_precision(tf32):
    """Convolutions in TF32 (`tf32=True`) or full float32 inside the block; the previous setting afterwards."""
    if _NEW_API:
        before = _CONV.fp32_precision
        _CONV.fp32_precision = 'tf32' if tf32 else 'ieee'
        try:
            yield
        finally:
            _CONV.fp32_precision = before
    else:
        cudnn = torch.backends.cudnn
        with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                         allow_tf32=tf32):
            yield
