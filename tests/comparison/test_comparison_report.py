"""igan_basicsr.comparison.report: tables as Markdown and CSV with their notes, written whole or not at all."""
import pytest
from comparison_helpers import read_csv

from igan_basicsr.atomic import replacing
from igan_basicsr.comparison import report


def test_a_table_is_markdown_under_its_notes_and_a_full_precision_csv(tmp_path):
    rows = [{'name': 'a', 'psnr': 30.123, 'gain': 0.5}, {'name': 'b', 'psnr': report.Missing('no weights')},
            {'name': 'c', 'psnr': 29.0, 'gain': -0.26}]
    columns = [('name', 'model', None), ('psnr', 'PSNR', '.2f'), ('gain', 'gain', '+.1f')]
    text = report.write_table(str(tmp_path), 't', columns, rows, notes=['Units: dB.', 'Set5, Y channel.'])
    assert text == ('Units: dB.  \nSet5, Y channel.  \n\n| model | PSNR | gain |\n| --- | ---: | ---: |\n'
                    '| a | 30.12 | +0.5 |\n| b | no weights | - |\n| c | 29.00 | -0.3 |\n')
    assert (tmp_path / 't.md').read_text() == text
    # A missing value says why in the Markdown and is empty in the CSV, which keeps every digit.
    assert read_csv(tmp_path / 't.csv') == [{'name': 'a', 'psnr': '30.123', 'gain': '0.5'},
                                            {'name': 'b', 'psnr': '', 'gain': ''},
                                            {'name': 'c', 'psnr': '29.0', 'gain': '-0.26'}]


def test_a_table_being_rewritten_stays_whole_until_the_new_one_is_complete(tmp_path):
    columns = [('name', 'model', None), ('psnr', 'PSNR', '.2f')]
    report.write_table(str(tmp_path), 'table', columns, [{'name': 'igan', 'psnr': 30.0}])
    before = (tmp_path / 'table.md').read_text()
    with pytest.raises(OSError, match='disk full'):
        with replacing(str(tmp_path / 'table.md')) as partial, open(partial, 'w') as f:
            f.write('| model |')
            raise OSError('disk full')
    assert (tmp_path / 'table.md').read_text() == before and '| igan | 30.00 |' in before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['table.csv', 'table.md']
