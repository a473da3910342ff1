"""Convert an authors' released IGAN state_dict into a BasicSR checkpoint {'params': state_dict}, or a .safetensors
file of the converted tensors.

    python scripts/model_conversion/convert_official.py IGAN_x4_released.pth \\
        experiments/pretrained_models/IGAN_x4.pth --scale 4
    python scripts/model_conversion/convert_official.py IGAN_x4_released.pth IGAN_x4.safetensors

The network size (num_feat, num_group, num_block, CAGM variant) is read off the keys and printed; the
result loads into ARCH_REGISTRY.get('IGAN')(upscale=S, num_group=G, num_block=B) with strict=True.
"""
import argparse
import os
import sys

from igan_basicsr.archs.igan_arch import UPSCALES
from igan_basicsr.archs.igan_checkpoint import load_released
from igan_basicsr.checkpoints import CheckpointError, save_state_dict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('input', help='released IGAN .pth or .safetensors (plain state_dict, with or without module. '
                        'prefix)')
    parser.add_argument('output', help='checkpoint to write: NAME.pth (BasicSR) or NAME.safetensors')
    parser.add_argument('--scale', type=int, choices=UPSCALES, help='refuse a checkpoint of another scale')
    args = parser.parse_args(argv)
    try:
        state, options = load_released(args.input, upscale=args.scale)
    except CheckpointError as err:
        parser.exit(1, f'convert_official: error: {err}\n')
    print(f"{args.input}: IGAN x{options['upscale']}, cagm={options['cagm']}, num_feat={options['num_feat']}, "
          f"num_group={options['num_group']}, num_block={options['num_block']}, {len(state)} tensors")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    try:
        save_state_dict(state, args.output)
    except CheckpointError as err:
        parser.exit(1, f'convert_official: error: {err}\n')
    print(f'wrote {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
