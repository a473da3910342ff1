"""Export a super-resolution network to ONNX (dynamic batch, height and width), checked with onnxruntime.

    python scripts/deployment/export_onnx.py --weights IGAN_x4.pth --out igan_x4.onnx
    python scripts/deployment/export_onnx.py -opt options/test_IGAN_x4.yml --out igan_x4.onnx --opset 17

The export is run by onnxruntime on two input sizes in the same run and compared with PyTorch (max abs error
on [0, 1] outputs printed; above 1e-4 nothing is written). Run it with `basicsr infer --onnx igan_x4.onnx`.
Needs the onnx extra: pip install -e '.[onnx]' in the repository.
"""
import argparse
import sys

import torch

from igan_basicsr.infer.engines import EngineError, from_option_file, from_weights
from igan_basicsr.infer.onnx_export import OPSET, TOLERANCE, ExportError, export_onnx

PROG = 'export_onnx'


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument('--weights', help='an IGAN checkpoint alone (either layout), or the weights for -opt')
    parser.add_argument('-opt', help="option file whose network_g is exported (any network in basicsr's registry)")
    parser.add_argument('--scale', type=int, help='refuse a model of another scale')
    parser.add_argument('--out', required=True, help='ONNX file to write')
    parser.add_argument('--opset', type=int, default=OPSET, help=f'ONNX opset (default {OPSET})')
    args = parser.parse_args(argv)
    if not args.weights and not args.opt:
        parser.exit(2, f'{PROG}: error: give --weights W.pth or -opt FILE.yml\n')
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as err:
        parser.exit(2, f'{PROG}: error: {err.name} is not installed: pip install -e ".[onnx]" in the repository\n')
    cpu = torch.device('cpu')
    try:
        engine = (from_option_file(args.opt, cpu, args.weights, args.scale) if args.opt
                  else from_weights(args.weights, cpu, args.scale))
    except EngineError as err:
        parser.exit(2, f'{PROG}: error: {err}\n')
    print(f'exporting {engine.description}, opset {args.opset}', flush=True)
    try:
        checks = export_onnx(engine, args.out, args.opset)
    except ExportError as err:
        parser.exit(1, f'{PROG}: error: {err}\n')
    for c in checks:
        print(f'onnxruntime vs PyTorch, input {"x".join(map(str, c.shape))}: max abs error {c.max_error:.2e} '
              f'(limit {TOLERANCE:g})')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
