"""IGANModel's speed switches, each against the plain float32 model: training-step and inference time, one run.

    python scripts/bench_speed_options.py                      # IGAN 64 features, 4x4, batch 4, patch 48, x4
    python scripts/bench_speed_options.py --groups 20 --blocks 10 --rounds 5

Variants: the option-file switches `channels_last: true`, `train/val: amp: bf16`, `compile: true` and, on CUDA,
`amp: fp16` (with a grad scaler). Every model is built by basicsr from the same options plus its switch and
timed in alternation (optimize_parameters for a step, test() for inference); ratios are baseline / variant.
"""
import argparse
import sys

import torch

import igan_basicsr  # noqa: F401,I001  (first: makes basicsr importable and registers IGAN)
from basicsr.models import build_model
from igan_basicsr.archs.igan_arch import UPSCALES
from igan_basicsr.profiling import device_name, interleaved_medians, parse_size, random_batch, train_options
from igan_basicsr.report import write_table


def variants(device):
    """name -> (top-level options, train options, val options)."""
    found = {
        'float32 (baseline)': ({}, {}, {}),
        'channels_last': ({'channels_last': True}, {}, {}),
        'amp bf16': ({}, {'amp': 'bf16'}, {'amp': 'bf16'}),
        'compile': ({'compile': True}, {}, {}),
    }
    if device == 'cuda':
        found['amp fp16'] = ({}, {'amp': 'fp16'}, {'amp': 'fp16'})
        found['channels_last + amp bf16 + compile'] = ({'channels_last': True, 'compile': True}, {'amp': 'bf16'},
                                                       {'amp': 'bf16'})
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scale', type=int, default=4, choices=UPSCALES)
    parser.add_argument('--num-feat', type=int, default=64)
    parser.add_argument('--groups', type=int, default=4)
    parser.add_argument('--blocks', type=int, default=4)
    parser.add_argument('--batch', type=int, default=4, help='training batch (default 4)')
    parser.add_argument('--patch', type=int, default=48, help='training LR patch side (default 48)')
    parser.add_argument('--test-size', type=parse_size, default=(160, 120), help='inference LR WIDTHxHEIGHT')
    parser.add_argument('--rounds', type=int, default=5, help='timed calls per variant after warm-up (default 5)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--out', default='results/speed_options', help='output folder for the tables')
    args = parser.parse_args(argv)
    net = {'type': 'IGAN', 'upscale': args.scale, 'num_feat': args.num_feat, 'num_group': args.groups,
           'num_block': args.blocks}
    data = random_batch(args.batch, args.patch, args.scale)
    image = {'lq': torch.rand(1, 3, args.test_size[1], args.test_size[0], generator=torch.Generator().manual_seed(1))}
    train_calls, test_calls = {}, {}
    for name, (top, train, val) in variants(args.device).items():
        torch.manual_seed(0)
        model = build_model(train_options(net, args.scale, device=args.device, train=train, val=val, **top))

        def step(model=model):
            model.feed_data(data)
            model.optimize_parameters(1)

        def infer(model=model):
            model.feed_data(image)
            model.test()

        for call in (step, infer, step):  # warm-up; compiles both the training and the eval graph
            call()
        train_calls[name], test_calls[name] = step, infer
        print(f'built and warmed up: {name}', flush=True)
    train_s = interleaved_medians(train_calls, args.rounds, args.device)
    test_s = interleaved_medians(test_calls, args.rounds, args.device)
    base = next(iter(train_calls))
    rows = [{'variant': name, 'train_ms': train_s[name] * 1000, 'train_speedup': train_s[base] / train_s[name],
             'test_ms': test_s[name] * 1000, 'test_speedup': test_s[base] / test_s[name]} for name in train_calls]
    notes = [f'{device_name(args.device)}; IGAN {args.num_feat} features, {args.groups} groups x {args.blocks} blocks, '
             f'x{args.scale}.',
             f'Training step: optimize_parameters on batch {args.batch} of {args.patch}x{args.patch} LR patches; '
             f'inference: test() on one {args.test_size[0]}x{args.test_size[1]} LR image.',
             f'Median of {args.rounds} calls per variant, variants in alternation; speed-up = baseline time / time.']
    columns = [('variant', 'variant', None), ('train_ms', 'train step (ms)', '.0f'),
               ('train_speedup', 'speed-up', '.2f'), ('test_ms', 'inference (ms)', '.0f'),
               ('test_speedup', 'speed-up', '.2f')]
    print(write_table(args.out, 'speed_options', columns, rows, notes))
    return 0


if __name__ == '__main__':
    sys.exit(main())
