"""compare_models.py's results: measure's result as a row of compare.md and compare.csv, the notes that qualify
the table, and compare.png (PSNR against FLOPs per benchmark, latency against parameters)."""
import os

from .measure import BICUBIC, BICUBIC_ARCH, PROTOCOL, precision_note
from .report import Missing, save_figure, subplots, write_table

# What the score cells of a model without a checkpoint say (the CSV leaves them empty).
NO_WEIGHTS = 'no weights'


def as_row(r, benchmarks):
    """measure's result `r` as a table row: PSNR and SSIM under <benchmark>_psnr and <benchmark>_ssim for each of
    the `benchmarks` (names), NO_WEIGHTS where the model was not scored."""
    r.update(params_m=r['params'] / 1e6, gflops=r['flops'] / 1e9)
    for bench in benchmarks:
        values = r['metrics'].get(bench) or {'psnr': Missing(NO_WEIGHTS), 'ssim': Missing(NO_WEIGHTS)}
        r.update({f'{bench}_psnr': values['psnr'], f'{bench}_ssim': values['ssim']})
    return r


def left_out(rows):
    """The names of the rows without scores (no weights), which the PSNR panels cannot show."""
    return [r['name'] for r in rows if not r['metrics']]


def plot_latency(ax, rows, size):
    """Median latency against parameters, one point per row that was timed, its fastest and slowest run as
    whiskers, on an axis from zero: one run's noise does not look like a difference between models."""
    timed = [r for r in rows if r.get('latency_ms') is not None]
    for r in timed:
        x, y = r['params'] / 1e6, r['latency_ms']
        ax.errorbar([x], [y], yerr=[[y - r['latency_min_ms']], [r['latency_max_ms'] - y]], fmt='o', capsize=4)
        ax.annotate(r['name'], (x, y), textcoords='offset points', xytext=(5, 4), fontsize=8)
    runs = sorted({r['runs'] for r in timed})
    ax.set(xlabel='parameters (M)', ylabel=f'latency (ms, {size} LR input)',
           title=f"latency: median, whiskers min-max of {'/'.join(map(str, runs))} runs")
    ax.set_ylim(bottom=0, top=max([r['latency_max_ms'] for r in timed], default=1) * 1.15)
    ax.grid(alpha=.3)
    return ax


def plot(rows, benchmarks, path, size):
    """PSNR against GFLOPs per benchmark (bicubic as a line: it has no FLOPs to place it) when any row is scored,
    then latency against parameters; the models left out of the PSNR panels are named under them."""
    scored = [r for r in rows if r['metrics'] and r['arch'] != BICUBIC_ARCH]
    panels = benchmarks if scored else []
    fig, axes = subplots(len(panels) + 1, (5.5 * (len(panels) + 1), 4.6))
    for ax, bench in zip(axes[0], panels):
        for r in scored:
            x, y = r['gflops'], r['metrics'][bench]['psnr']
            ax.scatter(x, y)
            ax.annotate(r['name'], (x, y), textcoords='offset points', xytext=(4, 4), fontsize=8)
        for r in rows:
            if r['arch'] == BICUBIC_ARCH:
                ax.axhline(r['metrics'][bench]['psnr'], color='grey', linestyle='--', label=r['name'])
                ax.legend(fontsize=8, loc='lower right')
        ax.set(xlabel=f'GFLOPs ({size} LR input)', ylabel='PSNR (dB, Y)', title=bench)
        if left_out(rows):
            ax.text(0, -0.2, f"not shown ({NO_WEIGHTS}): {', '.join(left_out(rows))}", transform=ax.transAxes,
                    fontsize=8, va='top')
        ax.grid(alpha=.3)
    plot_latency(axes[0][len(panels)], rows, size)
    save_figure(fig, path)


def table_notes(rows, runs, size, benchmarks):
    """The notes under compare.md's table: device, how FLOPs, latency (`runs` timed runs), memory and scores were
    taken; with `benchmarks` (names; the models scored), what the Bicubic row is."""
    memory = ('peak memory = torch.cuda.max_memory_allocated' if rows[0]['device_type'] == 'cuda' else
              'peak memory = ru_maxrss of a fresh process per model (imports + weights + inference; '
              'mem before inference = the same before the first forward)')
    notes = [f"Device: {rows[0]['device']}.",
             f'FLOPs for a {size} LR input (torch.utils.flop_counter: convolutions and matrix products, '
             'one multiply-add = 2 FLOPs), through the model\'s own test() (tiles and padding included).',
             f'Latency: median (min-max) of {runs} runs after one warm-up, batch 1, {size} LR input; {memory}.',
             f'PSNR/SSIM: {PROTOCOL}; "{NO_WEIGHTS}" = a model without a checkpoint (profiled only).']
    if benchmarks:
        notes.append(f'{BICUBIC}: MATLAB bicubic upscaling of the same LR images (basicsr.utils.matlab_functions.'
                     'imresize), scored alike; no convolutions or matrix products, so 0 FLOPs counted.')
    return notes + [note for note in [precision_note(rows)] if note]


def table_columns(size, names):
    """compare.md's and compare.csv's columns: (key, heading, format); PSNR and SSIM per benchmark `names`."""
    columns = [('name', 'model', None), ('arch', 'arch', None), ('scale', 'scale', None),
               ('params_m', 'params (M)', '.3f'), ('gflops', f'GFLOPs @{size}', '.1f'),
               ('latency_ms', 'latency (ms)', '.0f'), ('latency_min_ms', 'min', '.0f'),
               ('latency_max_ms', 'max', '.0f'), ('peak_mem_mib', 'peak mem (MiB)', '.0f'),
               ('mem_before_inference_mib', 'mem before inference (MiB)', '.0f')]
    return columns + [c for n in names for c in ((f'{n}_psnr', f'{n} PSNR', '.2f'), (f'{n}_ssim', f'{n} SSIM', '.4f'))]


def write_report(out_dir, rows, names, size, runs):
    """compare.md, compare.csv and compare.png of `rows` (as_row's) over the benchmarks `names`, for the LR input
    `size` ('320x180') and `runs` timed runs; returns compare.md's text."""
    text = write_table(out_dir, 'compare', table_columns(size, names), rows, table_notes(rows, runs, size, names))
    plot(rows, names, os.path.join(out_dir, 'compare.png'), size)
    return text
