"""Results as people compare them: tables side by side as Markdown (to read) and CSV (to load), with the notes
that qualify them, and PNG plots."""
import csv
import os
from typing import NamedTuple

from ..atomic import replacing


class Missing(NamedTuple):
    """A cell without a value, and why (e.g. 'no weights'): the reason in the Markdown, an empty cell in the CSV."""
    reason: str


def cell(value, fmt):
    """A Markdown table cell: '-' for no value, a Missing's reason, else `value` in format `fmt`."""
    if value is None:
        return '-'
    if isinstance(value, Missing):
        return value.reason
    return format(value, fmt) if fmt else str(value)


def _csv_cell(value):
    return '' if value is None or isinstance(value, Missing) else value


def subplots(count, figsize):
    """A figure with a row of `count` axes, drawn without a display."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt.subplots(1, count, figsize=figsize, squeeze=False)


def save_figure(fig, path):
    """`fig` written to `path` as a PNG (whole or not at all), then closed."""
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
        lines.append('| ' + ' | '.join(cell(row.get(key), fmt) for key, _, fmt in columns) + ' |')
    text = '\n'.join(lines) + '\n'
    with replacing(os.path.join(out_dir, f'{stem}.md')) as partial, open(partial, 'w') as f:
        f.write(text)
    write_csv(out_dir, stem, [key for key, _, _ in columns], rows)
    return text


def write_csv(out_dir, stem, keys, rows):
    """Write <stem>.csv: a header of `keys`, then each row's values under them (empty where there is none)."""
    os.makedirs(out_dir, exist_ok=True)
    with replacing(os.path.join(out_dir, f'{stem}.csv')) as partial, open(partial, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(keys)
        writer.writerows([[_csv_cell(row.get(key)) for key in keys] for row in rows])

