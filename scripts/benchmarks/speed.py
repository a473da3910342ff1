"""What the speed benchmarks share: a training model built in-process, random batches, FLOPs of one step and
medians timed in turns."""
import copy
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from igan_basicsr.comparison.measure import sync


def train_options(network_g, scale, model_type='SwitchSRModel', device='cpu', train=None, **top):
    """Options for building a training model in-process (no data, no files): Adam 1e-4, L1, constant lr."""
    return dict({
        'name': 'bench', 'model_type': model_type, 'scale': scale, 'num_gpu': 1 if device == 'cuda' else 0,
        'is_train': True, 'dist': False, 'rank': 0, 'world_size': 1, 'network_g': copy.deepcopy(network_g),
        'path': {'pretrain_network_g': None},
        'train': dict({'ema_decay': 0, 'optim_g': {'type': 'Adam', 'lr': 1e-4, 'betas': [0.9, 0.99]},
                       'scheduler': {'type': 'MultiStepLR', 'milestones': [10**9], 'gamma': 0.5},
                       'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}}, **(train or {})),
    }, **top)


def random_batch(batch, patch, scale, seed=0):
    """A training batch of `batch` LR patches of `patch` pixels and their GT (timing does not depend on pixels)."""
    gen = torch.Generator().manual_seed(seed)
    return {'lq': torch.rand(batch, 3, patch, patch, generator=gen),
            'gt': torch.rand(batch, 3, patch * scale, patch * scale, generator=gen)}


def train_step_flops(model, data):
    """FLOPs of one optimize_parameters (forward, backward, optimizer), counted eagerly."""
    model.feed_data(data)
    counter = FlopCounterMode(display=False)
    with counter, torch.compiler.set_stance('force_eager'):
        model.optimize_parameters(1)
    return counter.get_total_flops()


def interleaved_medians(calls, rounds, device='cpu'):
    """Median seconds of each callable in `calls` (name -> function), timed in turns, one call of each per
    round, so that a machine that slows down for a while slows every candidate alike."""
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            sync(device)
            start = time.perf_counter()
            call()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


