"""budget_compare.py's results: the scored runs gathered into one row per model, ranked seed by seed, each model's
paired per-image gap to a reference model, and the files: budget.md and budget.csv with the notes that qualify
them, per_image.csv, budget.png and, with learning curves, curves.csv and curves.png."""
import os
import statistics
from typing import NamedTuple

from . import stats
from .curves import plot_curves, write_curves
from .measure import BICUBIC, BICUBIC_ARCH, PROTOCOL
from .report import save_figure, subplots, write_csv, write_table

# SwitchSRModel's speed switches that --channels-last and --compile set for every model, as budget.md names them.
SWITCHES = {'channels_last': 'channels_last (NHWC)', 'compile': 'compiled (torch.compile)'}


class Budget(NamedTuple):
    """What every run of a comparison shared, as budget.md's notes state it."""
    opt: dict  # the first run's options: iterations, batch, HR patch, training data
    seeds: list
    size: tuple  # the LR input (width, height) the FLOPs are counted for
    jobs: int  # trainings at once
    curve_every: int  # validation every N iterations (None: no learning curves)
    switches: tuple  # keys of SWITCHES every model trained with
    tag: str  # the runs' experiment names end with it (budget_compare.run_tag)


def mean_psnr(result):
    """The mean over the benchmarks of measure's result `result`'s PSNR."""
    return sum(v['psnr'] for v in result['metrics'].values()) / len(result['metrics'])


def add_result(rows, name, seed, r, seconds=None):
    """One scored run (measure's result `r`; `seconds` of training) into its model's row of `rows` ({name: row}):
    scores per benchmark and every image's scores (row['per_image'][seed])."""
    row = rows.setdefault(name, {'name': name, 'arch': r['arch'], 'params_m': r['params'] / 1e6,
                                 'gflops': r['flops'] / 1e9, 'per_image': {}})
    if seconds is not None:
        row[f'train_min_seed{seed}'] = seconds / 60
    for bench, values in r['metrics'].items():
        row[f'{bench}_psnr_seed{seed}'] = values['psnr']
        row[f'{bench}_ssim_seed{seed}'] = values['ssim']
    row[f'mean_psnr_seed{seed}'] = mean_psnr(r)
    row['per_image'][seed] = r['per_image']


def image_psnr(row, seed, bench):
    return {image: values['psnr'] for image, values in row['per_image'][seed][bench].items()}


def add_paired_gaps(rows, reference, seeds, benches):
    """Each row's per-image PSNR difference to `reference` on each benchmark, each image's PSNR averaged over
    the seeds first: its mean, 95% bootstrap interval, the seeds' spread of the difference, and the verdict."""
    for row in rows:
        if row is reference:
            continue
        for b in benches:
            model = stats.mean_per_image([image_psnr(row, s, b) for s in seeds])
            ref = stats.mean_per_image([image_psnr(reference, s, b) for s in seeds])
            diff = stats.paired_difference([model[i] for i in ref], list(ref.values()))
            per_seed = [row[f'{b}_psnr_seed{s}'] - reference[f'{b}_psnr_seed{s}'] for s in seeds]
            row.update({f'{b}_gap': diff.mean, f'{b}_ci_low': diff.low, f'{b}_ci_high': diff.high,
                        f'{b}_gap_sd': stats.seed_spread(per_seed), f'{b}_verdict': stats.verdict(diff, per_seed)})


def write_per_image(out_dir, rows, seeds, benches):
    """per_image.csv: a line per benchmark image, a column per model and seed (Bicubic: one column)."""
    columns = [(row, seeds[:1] if row['arch'] == BICUBIC_ARCH else seeds) for row in rows]
    keys = ['benchmark', 'image'] + [row['name'] if row['arch'] == BICUBIC_ARCH else f"{row['name']}_seed{s}"
                                     for row, own in columns for s in own]
    lines = []
    for b in benches:
        for image in sorted(rows[0]['per_image'][seeds[0]][b]):
            values = [row['per_image'][s][b][image]['psnr'] for row, own in columns for s in own]
            lines.append(dict(zip(keys, [b, image] + values)))
    write_csv(out_dir, 'per_image', keys, lines)


def changed_pairs(orders, names):
    """'a / b' for each pair of `names` (in that order) that the rankings in `orders` (seed -> names, best first)
    put in different orders. Which pairs move says more than a bare "not stable": one noisy model moves every
    pair it is in."""
    return [f'{a} / {b}' for i, a in enumerate(names) for b in names[i + 1:]
            if len({order.index(a) < order.index(b) for order in orders.values()}) > 1]


def agreed_tiers(orders, names):
    """`names` (best first) cut into tiers wherever every seed's ranking in `orders` puts the same models above the
    cut: the ranking all seeds agree on, with the models they do not order between them as ties."""
    tiers = [[]]
    for i, name in enumerate(names):
        if i and all(set(order[:i]) == set(names[:i]) for order in orders.values()):
            tiers.append([])
        tiers[-1].append(name)
    return tiers


def ranked(rows, seeds, reference_name):
    """The rows with their mean over seeds, the per-seed differences to the reference model, and each seed's rank,
    best mean first; and each seed's ranking {seed: names, best first}."""
    reference = next(r for r in rows if r['name'] == reference_name)
    for row in rows:
        per_seed = [row[f'mean_psnr_seed{s}'] for s in seeds]
        row['mean_psnr'] = statistics.fmean(per_seed)
        # Every model of a round shares its seed (initial weights drawn alike, the same patches in the same
        # order), so differences are taken per seed: the spread of those is what says whether a gap is real.
        diffs = [row[f'mean_psnr_seed{s}'] - reference[f'mean_psnr_seed{s}'] for s in seeds]
        row['diff_psnr'] = statistics.fmean(diffs)
        if len(seeds) > 1:
            row['sd_psnr'] = statistics.stdev(per_seed)
            row['diff_sd_psnr'] = statistics.stdev(diffs)
    orders = {seed: [r['name'] for r in sorted(rows, key=lambda r: -r[f'mean_psnr_seed{seed}'])] for seed in seeds}
    for seed, order in orders.items():
        for row in rows:
            row[f'rank_seed{seed}'] = order.index(row['name']) + 1
    return sorted(rows, key=lambda r: -r['mean_psnr']), orders


def stability(orders, names):
    """Whether the seeds rank the models (`names`, best mean first) alike, and if not, what they agree on."""
    swapped = changed_pairs(orders, names)
    if not swapped:
        return 'the same for every seed'
    tiers = ' > '.join(t[0] if len(t) == 1 else '(' + ' = '.join(t) + ')' for t in agreed_tiers(orders, names))
    return (f"NOT the same across seeds; pairs whose order changes: {', '.join(swapped)}; the order every seed "
            f"agrees on, ties in brackets: {tiers}")


def table_notes(budget, benches, orders, names, reference_name):
    """The notes under budget.md's table: the budget, the protocol, the units, the rankings, the paired gaps."""
    train_set = budget.opt['datasets']['train']
    validation = (f"; validation every {budget.curve_every} iterations included (curves.csv, curves.png)"
                  if budget.curve_every else '')
    return [f"Equal budget: {budget.opt['train']['total_iter']} iterations each, batch "
            f"{train_set.get('batch_size_per_gpu')}, HR patch {train_set.get('gt_size')}, training data "
            f"{train_set.get('dataroot_gt')}; seeds {', '.join(map(str, budget.seeds))} (manual_seed)"
            + (f"; every model trained {' and '.join(SWITCHES[n] for n in budget.switches)}." if budget.switches
               else '.'),
            f'PSNR/SSIM: {PROTOCOL}; mean = over the benchmarks {", ".join(benches)}. {BICUBIC}: MATLAB bicubic '
            'upscaling of the same LR images, scored alike (nothing trained: the same scores for every seed).',
            f'GFLOPs for a {budget.size[0]}x{budget.size[1]} LR input (torch.utils.flop_counter); min = minutes of '
            f'training as basicsr logged them (a resumed run: its attempts summed){validation}, {budget.jobs} run(s) '
            f'at a time; weights: experiments/budget_<model>_seed<seed>_{budget.tag}/models/net_g_latest.pth.',
            'Ranking by mean PSNR: ' + '; '.join(f'seed {s}: ' + ' > '.join(o) for s, o in orders.items())
            + ('' if len(orders) < 2 else f' ({stability(orders, names)})') + '.',
            f"mean PSNR = mean over seeds of the benchmarks' mean; sd = its standard deviation over seeds; "
            f"vs {reference_name} = mean (sd) over seeds of the per-seed difference to {reference_name}.",
            f'<benchmark> vs {reference_name} = mean over the images of the paired PSNR difference (each image\'s PSNR '
            f'averaged over the seeds first); 95% CI = its percentile-bootstrap interval ({stats.RESAMPLES} '
            f'resamples of the images, seed {stats.SEED}): the spread another draw of test images would give; seeds '
            'sd = standard deviation over seeds of the difference: the spread another training would give; gap = '
            f'"{stats.HIGHER}" or "{stats.LOWER}" where the interval excludes 0 and every seed\'s difference has that '
            f'sign, else "{stats.UNRESOLVED}"' + (' (one seed: the gap column does not cover the spread between '
                                                   'trainings)' if len(budget.seeds) == 1 else '')
            + ". Every image's PSNR of every run: per_image.csv."]


def table_columns(seeds, benches, reference_name):
    """budget.md's and budget.csv's columns: (key, heading, format)."""
    columns = [('name', 'model', None), ('arch', 'arch', None), ('params_m', 'params (M)', '.3f'),
               ('gflops', 'GFLOPs', '.1f')]
    for seed in seeds:
        columns += [(f'{b}_psnr_seed{seed}', f'{b} PSNR s{seed}', '.3f') for b in benches]
        columns += [(f'{b}_ssim_seed{seed}', f'{b} SSIM s{seed}', '.4f') for b in benches]
        columns += [(f'rank_seed{seed}', f'rank s{seed}', None), (f'train_min_seed{seed}', f'min s{seed}', '.1f')]
    spread = len(seeds) > 1
    columns += [('mean_psnr', 'mean PSNR', '.3f')] + [('sd_psnr', 'sd', '.3f')] * spread
    columns += [('diff_psnr', f'vs {reference_name}', '+.3f')] + [('diff_sd_psnr', '(sd)', '.3f')] * spread
    for b in benches:
        columns += [(f'{b}_gap', f'{b} vs {reference_name}', '+.3f'), (f'{b}_ci_low', '95% CI low', '+.3f'),
                    (f'{b}_ci_high', '95% CI high', '+.3f')]
        columns += [(f'{b}_gap_sd', 'seeds sd', '.3f')] * spread + [(f'{b}_verdict', 'gap', None)]
    return columns


def plot(rows, seeds, benchmarks, path):
    """Each trained model's PSNR per seed as bars, a panel per benchmark (the Bicubic row, far below, is left out:
    its bar would flatten the differences)."""
    rows = [r for r in rows if r['arch'] != BICUBIC_ARCH]
    fig, axes = subplots(len(benchmarks), (max(5, 1.3 * len(rows)) * len(benchmarks), 4.2))
    width = 0.8 / len(seeds)
    for ax, bench in zip(axes[0], benchmarks):
        for i, seed in enumerate(seeds):
            ax.bar([k + i * width for k in range(len(rows))], [r[f'{bench}_psnr_seed{seed}'] for r in rows], width,
                   label=f'seed {seed}')
        values = [r[f'{bench}_psnr_seed{s}'] for r in rows for s in seeds]
        spread = max(values) - min(values)
        ax.set_ylim(min(values) - max(spread, 0.1) * 0.5, max(values) + max(spread, 0.1) * 0.3)
        ax.set_xticks([k + width * (len(seeds) - 1) / 2 for k in range(len(rows))], [r['name'] for r in rows],
                      rotation=20, ha='right', fontsize=8)
        ax.set(ylabel='PSNR (dB, Y)', title=bench)
        ax.legend(fontsize=8)
        ax.grid(axis='y', alpha=.3)
    save_figure(fig, path)


def write_report(out_dir, budget, rows, reference_name, benches, curves=()):
    """Every file of a comparison, from `rows` (add_result's, the models in the order of the option files, then
    Bicubic) and the runs' learning `curves` (curves.Curve; written with budget.curve_every): budget.md and
    budget.csv ranked best mean first, per_image.csv, budget.png, curves.csv and curves.png. Returns budget.md's
    text."""
    models = [r['name'] for r in rows]
    rows, orders = ranked(rows, budget.seeds, reference_name)
    add_paired_gaps(rows, next(r for r in rows if r['name'] == reference_name), budget.seeds, benches)
    notes = table_notes(budget, benches, orders, [r['name'] for r in rows], reference_name)
    text = write_table(out_dir, 'budget', table_columns(budget.seeds, benches, reference_name), rows, notes)
    write_per_image(out_dir, rows, budget.seeds, benches)
    plot(rows, budget.seeds, benches, os.path.join(out_dir, 'budget.png'))
    if budget.curve_every:
        # Seed by seed, the models in the order of the option files.
        found = sorted(curves, key=lambda c: (budget.seeds.index(c.seed), models.index(c.model)))
        write_curves(out_dir, found)
        plot_curves(found, os.path.join(out_dir, 'curves.png'))
    return text
