"""SwitchSRModel's speed switches, each against the plain float32 model: training-step and inference time, one run.

    python -m scripts.benchmarks.bench_speed_options                      # the default IGAN (see --help)
    python -m scripts.benchmarks.bench_speed_options --groups 20 --blocks 10 --rounds 5
    python -m scripts.benchmarks.bench_speed_options options/compare/tiny/{IGAN_growth,RCAN,EDSR}_x4.yml \\
        --batch 8 --patch 16 --variants channels_last        # any option file's network_g, peers included

Variants: the option-file switches `channels_last: true`, `train/val: amp: bf16`, `compile: true`,
`channels_last + compile` and, on CUDA, `amp: fp16` (with a grad scaler). Every model is built by basicsr from
the same options plus its switch, through SwitchSRModel (basicsr's SRModel plus the switches, so the peers'
networks can be timed too). A model's variants are timed in alternation (optimize_parameters for a step, test()
for inference), then freed before the next model's are built; speed-ups are the model's baseline / variant.
"""
import argparse
import os
import sys

import torch
from basicsr.models import build_model

from igan_basicsr.archs.igan_arch import UPSCALES
from igan_basicsr.comparison.measure import device_name, parse_size
from igan_basicsr.comparison.report import write_table
from igan_basicsr.options import load_model_options
from igan_basicsr.plugins import PluginError, add_import_argument, load_plugins
from scripts.benchmarks.speed import interleaved_medians, random_batch, train_options

BASELINE = 'float32 (baseline)'
# Only without option files: the arguments that shape the IGAN timed then, and their defaults.
DEFAULT_IGAN = {'scale': 4, 'num_feat': 64, 'groups': 4, 'blocks': 4}


def variants(device):
    """name -> (top-level options, train options, val options)."""
    found = {
        BASELINE: ({}, {}, {}),
        'channels_last': ({'channels_last': True}, {}, {}),
        'amp bf16': ({}, {'amp': 'bf16'}, {'amp': 'bf16'}),
        'compile': ({'compile': True}, {}, {}),
        'channels_last + compile': ({'channels_last': True, 'compile': True}, {}, {}),
    }
    if device == 'cuda':
        found['amp fp16'] = ({}, {'amp': 'fp16'}, {'amp': 'fp16'})
        found['channels_last + amp bf16 + compile'] = ({'channels_last': True, 'compile': True}, {'amp': 'bf16'},
                                                       {'amp': 'bf16'})
    return found


def _key(name):
    # Names with spaces are awkward on a command line: 'amp bf16' may also be written amp_bf16.
    return name.replace('_', ' ')


def chosen_variants(parser, wanted, device):
    """The baseline plus the `wanted` variants (all when none are named), refused with what to write instead."""
    found = variants(device)
    if not wanted:
        return found
    by_key = {_key(name): name for name in found}
    problems = []
    for value in wanted:
        if value.endswith(('.yml', '.yaml')) or os.path.isfile(value):
            problems.append(f'{value!r} is an option file, not a variant: put the option files before --variants.')
        elif _key(value) == _key(BASELINE):
            problems.append(f'{value!r}: the baseline is always timed; name only the switches to compare with it.')
        elif _key(value) not in by_key:
            problems.append(f"unknown variant {value!r} on {device}; choose from "
                            f"{', '.join(repr(v) for v in found if v != BASELINE)}.")
    if problems:
        parser.error(' '.join(problems))
    keep = {by_key[_key(value)] for value in wanted}
    return {name: switch for name, switch in found.items() if name == BASELINE or name in keep}


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
    try:
        load_plugins(args.imports)
    except PluginError as err:
        parser.exit(2, f'{parser.prog}: error: {err}\n')
    loaded, problems = load_model_options(args.options)
    if problems:
        parser.exit(2, f'{parser.prog}: error: ' + '\n'.join(problems) + '\n')
    return [(opt['name'], opt['network_g'], opt['scale'], f"{opt['name']} ({path}), x{opt['scale']}")
            for path, opt in loaded]


def time_model(net, scale, chosen, args, image):
    """{variant: (train seconds, inference seconds)} for one network, its variants built, warmed up and timed
    in alternation, then dropped."""
    data = random_batch(args.batch, args.patch, scale)
    train_calls, test_calls = {}, {}
    for name, (top, train, val) in chosen.items():
        torch.manual_seed(0)
        model = build_model(train_options(net, scale, device=args.device, train=train, val=val, **top))

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
    # Compiled graphs of one model would count towards the next one's recompile limit (the IGAN files share a
    # forward), past which torch.compile falls back to eager without a word.
    torch._dynamo.reset()
    return {name: (train_s[name], test_s[name]) for name in chosen}


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
    extra = ', '.join(repr(v) for v in variants('cuda') if v not in variants('cpu'))
    parser.add_argument('--variants', nargs='+', metavar='VARIANT',
                        help='time only these besides the baseline, after the option files; a space in a name may be '
                             'written _ (default: all; on CPU ' + ', '.join(
                                 repr(v) for v in variants('cpu') if v != BASELINE) + f'; on CUDA also {extra})')
    parser.add_argument('--out', default='results/speed_options', help='output folder for the tables')
    add_import_argument(parser)
    args = parser.parse_intermixed_args(argv)
    chosen = chosen_variants(parser, args.variants, args.device)
    models = models_to_time(parser, args)

    image = {'lq': torch.rand(1, 3, args.test_size[1], args.test_size[0], generator=torch.Generator().manual_seed(1))}
    rows = []
    for model_name, net, scale, _ in models:
        print(f'model: {model_name}', flush=True)
        times = time_model(net, scale, chosen, args, image)
        base_train, base_test = times[BASELINE]
        rows += [{'model': model_name, 'variant': name, 'train_ms': train * 1000, 'train_speedup': base_train / train,
                  'test_ms': test * 1000, 'test_speedup': base_test / test} for name, (train, test) in times.items()]
    notes = [f"{device_name(args.device)}; {'; '.join(description for *_, description in models)}.",
             f'Training step: optimize_parameters on batch {args.batch} of {args.patch}x{args.patch} LR patches; '
             f'inference: test() on one {args.test_size[0]}x{args.test_size[1]} LR image.',
             f"Median of {args.rounds} calls per variant, a model's variants in alternation; "
             "speed-up = the model's baseline time / time."]
    columns = [('model', 'model', None), ('variant', 'variant', None), ('train_ms', 'train step (ms)', '.1f'),
               ('train_speedup', 'speed-up', '.2f'), ('test_ms', 'inference (ms)', '.1f'),
               ('test_speedup', 'speed-up', '.2f')]
    print(write_table(args.out, 'speed_options', columns, rows, notes))
    return 0


if __name__ == '__main__':
    sys.exit(main())
