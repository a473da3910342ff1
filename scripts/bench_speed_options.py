"""IGANModel's speed switches, each against the plain float32 model: training-step and inference time, one run.

    python scripts/bench_speed_options.py                      # IGAN 64 features, 4x4, batch 4, patch 48, x4
    python scripts/bench_speed_options.py --groups 20 --blocks 10 --rounds 5
    python scripts/bench_speed_options.py options/compare/tiny/{IGAN_growth,RCAN,EDSR}_x4.yml \\
        --batch 8 --patch 16 --variants channels_last        # any option file's network_g, peers included

Variants: the option-file switches `channels_last: true`, `train/val: amp: bf16`, `compile: true` and, on CUDA,
`amp: fp16` (with a grad scaler). Every model is built by basicsr from the same options plus its switch, through
IGANModel (basicsr's SRModel plus the switches, so the peers' networks can be timed too), and timed in
alternation (optimize_parameters for a step, test() for inference); speed-ups are the model's baseline / variant.
"""
import argparse
import sys

import torch

import igan_basicsr  # noqa: F401,I001  (first: makes basicsr importable and registers IGAN)
from basicsr.models import build_model
from igan_basicsr.archs.igan_arch import UPSCALES
from igan_basicsr.profiling import (OptionError, device_name, interleaved_medians, load_options, parse_size,
                                    random_batch, train_options)
from igan_basicsr.report import write_table

BASELINE = 'float32 (baseline)'
# The default model when no option file is given: --num-feat, --groups, --blocks and --scale describe it.
DEFAULT_IGAN = {'scale': 4, 'num_feat': 64, 'groups': 4, 'blocks': 4}


def variants(device):
    """name -> (top-level options, train options, val options)."""
    found = {
        BASELINE: ({}, {}, {}),
        'channels_last': ({'channels_last': True}, {}, {}),
        'amp bf16': ({}, {'amp': 'bf16'}, {'amp': 'bf16'}),
        'compile': ({'compile': True}, {}, {}),
    }
    if device == 'cuda':
        found['amp fp16'] = ({}, {'amp': 'fp16'}, {'amp': 'fp16'})
        found['channels_last + amp bf16 + compile'] = ({'channels_last': True, 'compile': True}, {'amp': 'bf16'},
                                                       {'amp': 'bf16'})
    return found


def models_to_time(parser, args):
    """[(name, network_g, scale, description)] from the option files, or the default IGAN from the arguments."""
    shape = {key: getattr(args, key) for key in DEFAULT_IGAN}
    if not args.options:
        shape = {key: DEFAULT_IGAN[key] if value is None else value for key, value in shape.items()}
        net = {'type': 'IGAN', 'upscale': shape['scale'], 'num_feat': shape['num_feat'],
               'num_group': shape['groups'], 'num_block': shape['blocks']}
        return [('IGAN', net, shape['scale'], f"IGAN {shape['num_feat']} features, {shape['groups']} groups x "
                                              f"{shape['blocks']} blocks, x{shape['scale']}")]
    given = [f"--{key.replace('_', '-')}" for key, value in shape.items() if value is not None]
    if given:
        parser.error(f"{', '.join(given)}: these shape the default IGAN only; with option files each file's "
                     'network_g and scale are timed. Drop them, or leave out the option files.')
    problems, models = [], []
    for path in args.options:
        try:
            opt = load_options(path)
        except OptionError as err:
            problems.append(str(err))
            continue
        models.append((opt['name'], opt['network_g'], opt['scale'], f"{opt['name']} ({path}), x{opt['scale']}"))
    names = [name for name, *_ in models]
    problems += [f'two option files are both named {n!r}: give each model its own name.'
                 for n in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        parser.exit(2, f'{parser.prog}: error: ' + '\n'.join(problems) + '\n')
    return models


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('options', nargs='*',
                        help='option files whose network_g and scale are timed (default: an IGAN from the arguments)')
    parser.add_argument('--scale', type=int, choices=UPSCALES, help=f"default IGAN's scale ({DEFAULT_IGAN['scale']})")
    parser.add_argument('--num-feat', type=int, help=f"default IGAN's features ({DEFAULT_IGAN['num_feat']})")
    parser.add_argument('--groups', type=int, help=f"default IGAN's groups ({DEFAULT_IGAN['groups']})")
    parser.add_argument('--blocks', type=int, help=f"default IGAN's blocks per group ({DEFAULT_IGAN['blocks']})")
    parser.add_argument('--batch', type=int, default=4, help='training batch (default 4)')
    parser.add_argument('--patch', type=int, default=48, help='training LR patch side (default 48)')
    parser.add_argument('--test-size', type=parse_size, default=(160, 120), help='inference LR WIDTHxHEIGHT')
    parser.add_argument('--rounds', type=int, default=5, help='timed calls per variant after warm-up (default 5)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--variants', nargs='+', metavar='VARIANT',
                        help='time only these besides the baseline, e.g. channels_last compile (default: every one '
                             'the device has: ' + ', '.join(v for v in variants('cuda') if v != BASELINE) + ')')
    parser.add_argument('--out', default='results/speed_options', help='output folder for the tables')
    args = parser.parse_args(argv)
    chosen = variants(args.device)
    if args.variants:
        unknown = [v for v in args.variants if v not in chosen or v == BASELINE]
        if unknown:
            parser.error(f"unknown variant(s) {', '.join(map(repr, unknown))} on {args.device}; "
                         f"choose from {', '.join(repr(v) for v in chosen if v != BASELINE)}")
        chosen = {name: switch for name, switch in chosen.items() if name == BASELINE or name in args.variants}
    models = models_to_time(parser, args)

    image = {'lq': torch.rand(1, 3, args.test_size[1], args.test_size[0], generator=torch.Generator().manual_seed(1))}
    train_calls, test_calls = {}, {}
    for model_name, net, scale, _ in models:
        data = random_batch(args.batch, args.patch, scale)
        for name, (top, train, val) in chosen.items():
            torch.manual_seed(0)
            model = build_model(train_options(net, scale, device=args.device, train=train, val=val, **top))

            def step(model=model, data=data):
                model.feed_data(data)
                model.optimize_parameters(1)

            def infer(model=model):
                model.feed_data(image)
                model.test()

            for call in (step, infer, step):  # warm-up; compiles both the training and the eval graph
                call()
            train_calls[model_name, name], test_calls[model_name, name] = step, infer
            print(f'built and warmed up: {model_name}, {name}', flush=True)
    train_s = interleaved_medians(train_calls, args.rounds, args.device)
    test_s = interleaved_medians(test_calls, args.rounds, args.device)
    rows = [{'model': model, 'variant': name, 'train_ms': train_s[model, name] * 1000,
             'train_speedup': train_s[model, BASELINE] / train_s[model, name], 'test_ms': test_s[model, name] * 1000,
             'test_speedup': test_s[model, BASELINE] / test_s[model, name]} for model, name in train_calls]
    notes = [f"{device_name(args.device)}; {'; '.join(description for *_, description in models)}.",
             f'Training step: optimize_parameters on batch {args.batch} of {args.patch}x{args.patch} LR patches; '
             f'inference: test() on one {args.test_size[0]}x{args.test_size[1]} LR image.',
             f'Median of {args.rounds} calls per variant, every model and variant in alternation; '
             "speed-up = the model's baseline time / time."]
    columns = [('model', 'model', None), ('variant', 'variant', None), ('train_ms', 'train step (ms)', '.1f'),
               ('train_speedup', 'speed-up', '.2f'), ('test_ms', 'inference (ms)', '.1f'),
               ('test_speedup', 'speed-up', '.2f')]
    print(write_table(args.out, 'speed_options', columns, rows, notes))
    return 0


if __name__ == '__main__':
    sys.exit(main())
