"""Export a network to ONNX for deployment without the training stack, checked with onnxruntime against PyTorch
in the same run; `basicsr infer --onnx` then runs it with tiles, alpha and 16-bit images as for PyTorch."""
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..atomic import replacing
from .engines import ONNX_BYTES_PER_PIXEL, ONNX_MIN_SIZE, ONNX_SCALE, onnx_session
from .memory import bytes_per_pixel

OPSET = 17
# The export must agree with PyTorch to this on [0, 1] outputs, in float32.
TOLERANCE = 1e-4
# (batch, height, width) of the two checks: different batches and odd sizes exercise every dynamic axis.
CHECK_SHAPES = ((1, 40, 32), (2, 23, 29))
INPUT, OUTPUT = 'lq', 'sr'


class ExportError(RuntimeError):
    """An export that failed or does not reproduce PyTorch; nothing is written under the output name."""


@dataclass
class Check:
    shape: tuple
    max_error: float


def photo_batch(batch, height, width):
    """Crops of a real photograph in [0, 1]: a trained network's outputs on noise would mostly be clipped away."""
    import skimage.data
    img = torch.from_numpy(skimage.data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)
    crops = [img[:, 40 * i + 100:40 * i + 100 + height, 60 * i + 150:60 * i + 150 + width] for i in range(batch)]
    return torch.stack(crops)


def _export_graph(module, path, opset, min_size):
    example = photo_batch(1, max(32, min_size), max(32, min_size))
    dynamic = {INPUT: {0: 'batch', 2: 'height', 3: 'width'}, OUTPUT: {0: 'batch', 2: 'out_height', 3: 'out_width'}}
    with warnings.catch_warnings():
        # The TorchScript exporter (dynamo=False) needs no onnxscript and handles the arch's data-dependent
        # view shapes; its deprecation notice and the tracer's note on the input-size check say nothing here:
        # `basicsr infer` pads inputs to min_size before they reach the model.
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(module, (example, ), path, dynamo=False, input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes=dynamic, opset_version=opset)


def _add_metadata(path, fields):
    import onnx
    model = onnx.load(path)
    for key, value in fields.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, path)


def check(path, module):
    """Max |onnxruntime - PyTorch| on [0, 1] outputs for each of CHECK_SHAPES."""
    session = onnx_session(path, torch.device('cpu'))
    checks = []
    for shape in CHECK_SHAPES:
        lq = photo_batch(*shape)
        with torch.no_grad():
            want = module(lq).clamp(0, 1).numpy()
        got = np.clip(session.run(None, {INPUT: lq.numpy()})[0], 0, 1)
        checks.append(Check(tuple(lq.shape), float(np.abs(got - want).max())))
    return checks


def export_onnx(engine, out_path, opset=OPSET):
    """Write `engine`'s network (a CPU engine) to `out_path` with its scale, minimum input and memory per pixel
    in the metadata, after checking it; returns the checks."""
    module = engine.module.eval()
    with replacing(out_path) as partial:
        try:
            _export_graph(module, partial, opset, engine.min_size)
        except Exception as err:  # the exporter raises many types; the first line says which operator failed
            raise ExportError(f'torch.onnx.export failed: {type(err).__name__}: {str(err).splitlines()[0]}') from err
        _add_metadata(partial, {ONNX_SCALE: engine.scale, ONNX_MIN_SIZE: engine.min_size,
                                ONNX_BYTES_PER_PIXEL: bytes_per_pixel(engine)})
        checks = check(partial, module)
        worst = max(c.max_error for c in checks)
        if worst >= TOLERANCE:
            raise ExportError(f'onnxruntime differs from PyTorch by {worst:.2e} (limit {TOLERANCE:g}); '
                              f'try another --opset than {opset}')
    return checks
