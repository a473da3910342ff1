"""Efficiency bar: IGAN's training-step time per FLOP against basicsr's RCAN, same batch and patch, one run.

    python -m scripts.benchmarks.bench_arch                      # paper sizes: IGAN 64/20x10, RCAN 64/10x20, x4
    python -m scripts.benchmarks.bench_arch --batch 4 --patch 48 --rounds 7

Both models are built by basicsr (IGANModel, SRModel) and stepped with optimize_parameters (forward, L1,
backward, Adam); FLOPs of a step are counted with torch.utils.flop_counter. Steps are timed in alternation and
the medians compared: ratio = (IGAN s/FLOP) / (RCAN s/FLOP); the bar is ratio <= 1.10.
"""
import argparse
import sys

import torch
from basicsr.models import build_model

from igan_basicsr.archs.igan_arch import UPSCALES
from igan_basicsr.comparison.measure import device_name
from scripts.benchmarks.speed import interleaved_medians, random_batch, train_options, train_step_flops

BAR = 1.10


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scale', type=int, default=4, choices=UPSCALES)
    parser.add_argument('--batch', type=int, default=2, help='batch size (default 2)')
    parser.add_argument('--patch', type=int, default=48, help='LR patch side (default 48, the paper\'s)')
    parser.add_argument('--rounds', type=int, default=5, help='timed steps per model, after one warm-up (default 5)')
    parser.add_argument('--num-feat', type=int, default=64)
    parser.add_argument('--igan', type=int, nargs=2, default=(20, 10), metavar=('GROUPS', 'BLOCKS'))
    parser.add_argument('--rcan', type=int, nargs=2, default=(10, 20), metavar=('GROUPS', 'BLOCKS'))
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args(argv)
    nets = {
        'IGAN': ('IGANModel', {'type': 'IGAN', 'upscale': args.scale, 'num_feat': args.num_feat,
                               'num_group': args.igan[0], 'num_block': args.igan[1]}),
        'RCAN': ('SRModel', {'type': 'RCAN', 'num_in_ch': 3, 'num_out_ch': 3, 'upscale': args.scale,
                             'num_feat': args.num_feat, 'num_group': args.rcan[0], 'num_block': args.rcan[1]}),
    }
    data = random_batch(args.batch, args.patch, args.scale)
    models, flops, calls = {}, {}, {}
    for name, (model_type, net) in nets.items():
        torch.manual_seed(0)
        model = models[name] = build_model(train_options(net, args.scale, model_type, args.device))
        flops[name] = train_step_flops(model, data)  # also the warm-up step
        calls[name] = lambda model=model: (model.feed_data(data), model.optimize_parameters(1))
    seconds = interleaved_medians(calls, args.rounds, args.device)
    print(f'{device_name(args.device)}; batch {args.batch}, LR patch {args.patch}, x{args.scale}; '
          f'median of {args.rounds} alternating training steps')
    print(f"{'model':<6}{'params (M)':>12}{'step GFLOPs':>13}{'step (s)':>10}{'ns / kFLOP':>12}")
    per_flop = {}
    for name, model in models.items():
        per_flop[name] = seconds[name] / flops[name]
        params = sum(p.numel() for p in model.net_g.parameters()) / 1e6
        print(f'{name:<6}{params:>12.2f}{flops[name] / 1e9:>13.1f}{seconds[name]:>10.2f}{per_flop[name] * 1e12:>12.3f}')
    ratio = per_flop['IGAN'] / per_flop['RCAN']
    verdict = 'within' if ratio <= BAR else 'OUTSIDE'
    print(f'IGAN time per FLOP / RCAN time per FLOP = {ratio:.3f} ({verdict} the {BAR:.2f} bar)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
