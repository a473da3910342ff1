"""Learning curves: the validation PSNR basicsr's trainer computes every val_freq iterations (its own validation,
under the comparison's protocol), read back from the tensorboard events it writes to tb_logger/<run name>/ as the
scalars metrics/<dataset>/<metric>."""
import copy
import os
from typing import NamedTuple

from .measure import metric_options
from .report import save_figure, subplots, write_csv

METRIC = 'psnr'


class CurvePoint(NamedTuple):
    iteration: int
    value: float


def with_validation(opt, datasets, every):
    """Training options `opt` made to validate on `datasets` (basicsr dataset options, e.g. benchmark_dataset's)
    every `every` iterations with the comparison's PSNR, logged to tensorboard."""
    opt = copy.deepcopy(opt)
    opt['datasets'].update({f'val_{i}': dict(ds) for i, ds in enumerate(datasets, 1)})
    opt['val'] = {'val_freq': every, 'save_img': False, 'metrics': metric_options(opt['scale'], (METRIC, ))}
    opt['logger'] = dict(opt.get('logger') or {}, use_tb_logger=True)
    return opt


def tb_folder(run_name):
    """Where basicsr's trainer, started in the working directory, writes a run's tensorboard events."""
    return os.path.join('tb_logger', run_name)


def read_scalars(folder, since=None):
    """{tag: [CurvePoint, ...] by iteration} of the tensorboard event files under `folder`, only the events written
    from the time.time() `since` on when given (not an earlier run's, left there when a run fails before it
    logs); an iteration logged twice (a run resumed from a state before it) keeps its last value."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(folder, size_guidance={'scalars': 0})
    events.Reload()
    scalars = {}
    for tag in events.Tags()['scalars']:
        by_step = {e.step: e.value for e in events.Scalars(tag) if since is None or e.wall_time >= since}
        if by_step:
            scalars[tag] = [CurvePoint(step, float(by_step[step])) for step in sorted(by_step)]
    return scalars


def metric_curves(scalars, metric=METRIC):
    """{dataset: [CurvePoint, ...]} of the scalars metrics/<dataset>/<metric> among read_scalars' `scalars`."""
    curves = {}
    for tag, points in scalars.items():
        kind, _, rest = tag.partition('/')
        dataset, _, name = rest.rpartition('/')
        if kind == 'metrics' and dataset and name == metric:
            curves[dataset] = points
    return curves


def read_curves(folder, metric=METRIC):
    """{dataset: [CurvePoint, ...]} of the scalars metrics/<dataset>/<metric> under `folder`."""
    return metric_curves(read_scalars(folder), metric)


class Curve(NamedTuple):
    """One run's validation curve on one dataset."""
    model: str
    seed: int
    dataset: str
    points: list


def write_curves(out_dir, curves):
    """curves.csv: one line per model, seed, dataset and iteration."""
    rows = [{'model': c.model, 'seed': c.seed, 'benchmark': c.dataset, 'iteration': p.iteration, 'psnr': p.value}
            for c in curves for p in c.points]
    write_csv(out_dir, 'curves', ['model', 'seed', 'benchmark', 'iteration', 'psnr'], rows)


def plot_curves(curves, path):
    """PSNR against iterations, one panel per dataset, one colour per model and one line style per seed."""
    datasets = list(dict.fromkeys(c.dataset for c in curves))
    models = list(dict.fromkeys(c.model for c in curves))
    seeds = list(dict.fromkeys(c.seed for c in curves))
    fig, axes = subplots(len(datasets), (6 * len(datasets), 4.2))
    styles = ['-', '--', ':', '-.']
    for ax, dataset in zip(axes[0], datasets):
        for c in (c for c in curves if c.dataset == dataset):
            ax.plot([p.iteration for p in c.points], [p.value for p in c.points], marker='.',
                    color=f'C{models.index(c.model)}', linestyle=styles[seeds.index(c.seed) % len(styles)],
                    label=c.model if len(seeds) == 1 else f'{c.model} seed {c.seed}')
        ax.set(xlabel='iterations', ylabel='validation PSNR (dB, Y)', title=dataset)
        ax.grid(alpha=.3)
        ax.legend(fontsize=8)
    save_figure(fig, path)
