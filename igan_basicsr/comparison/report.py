"""Results as people compare them: tables side by side as Markdown (to read) and CSV (to load), with the notes
that qualify them, and PNG plots."""
import csv
import os

from ..atomic import replacing


def _cell(value, fmt):
    if value is None:
        return '-'
    return format(value, fmt) if fmt else str(value)


def subplots(count, figsize):
    """A figure with a row of `count` axes, drawn without a display."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt.subplots(1, count, figsize=figsize, squeeze=False)


def save_figure(fig, path):
    import matplotlib.pyplot as plt
    fig.tight_layout()
    with replacing(path) as partial:
        fig.savefig(partial, dpi=120, format='png')
    plt.close(fig)


def write_table(out_dir, stem, columns, rows, notes=()):
    """Write <stem>.md and <stem>.csv; `columns` holds (key, header, format) and `rows` dicts keyed alike.

    The CSV keeps full-precision values under the keys; the Markdown rounds them with the formats and puts
    `notes` (units, protocol, how things were measured) above the table. Returns the Markdown text.
    """
    os.makedirs(out_dir, exist_ok=True)
    lines = [f'{note}  ' for note in notes] + ([''] if notes else [])
    lines.append('| ' + ' | '.join(header for _, header, _ in columns) + ' |')
    lines.append('|' + '|'.join(' --- ' if i == 0 else ' ---: ' for i in range(len(columns))) + '|')
    for row in rows:
        lines.append('| ' + ' | '.join(_cell(row.get(key), fmt) for key, _, fmt in columns) + ' |')
    text = '\n'.join(lines) + '\n'
    with replacing(os.path.join(out_dir, f'{stem}.md')) as partial, open(partial, 'w') as f:
        f.write(text)
    with replacing(os.path.join(out_dir, f'{stem}.csv')) as partial, open(partial, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow([key for key, _, _ in columns])
        writer.writerows([['' if row.get(key) is None else row.get(key) for key, _, _ in columns] for row in rows])
    return text
