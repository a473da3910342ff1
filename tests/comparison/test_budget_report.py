"""igan_basicsr.comparison.budget_report: budget_compare.py's rows, rankings, paired gaps and files, from scores
made up here whose answers are known."""
import pytest
from comparison_helpers import png_size, read_csv

from igan_basicsr.comparison import budget_report


def image_rows(name, per_seed):
    """A budget row of benchmark B over images a, b, c: `per_seed` {seed: [PSNR a, b, c]}."""
    row = {'name': name, 'arch': 'X', 'per_image': {}}
    for seed, values in per_seed.items():
        row['per_image'][seed] = {'B': {i: {'psnr': v} for i, v in zip('abc', values)}}
        row[f'B_psnr_seed{seed}'] = sum(values) / 3
    return row


def test_paired_gaps_average_each_image_over_seeds_then_bootstrap_over_images():
    ref = image_rows('ref', {1: [30, 31, 32], 2: [30.2, 31.2, 32.2]})
    better = image_rows('better', {1: [31, 33, 35], 2: [31.2, 33.2, 35.2]})  # +1, +2, +3 in both seeds
    mixed = image_rows('mixed', {1: [30.5, 31.5, 32.5], 2: [29.7, 30.7, 31.7]})  # +0.5, then -0.5 on every image
    budget_report.add_paired_gaps([ref, better, mixed], ref, [1, 2], ['B'])
    assert 'B_gap' not in ref
    # The worked example of test_the_bootstrap_interval_of_a_tiny_example_is_the_one_worked_out_by_hand.
    assert (better['B_gap'], better['B_ci_low'], better['B_ci_high']) == pytest.approx((2, 1, 3))
    assert better['B_gap_sd'] == pytest.approx(0, abs=1e-12) and better['B_verdict'] == 'higher'
    assert (mixed['B_gap'], mixed['B_ci_low'], mixed['B_ci_high']) == pytest.approx((0, 0, 0), abs=1e-12)
    assert mixed['B_gap_sd'] == pytest.approx(2 ** 0.5 / 2) and mixed['B_verdict'] == 'no clear difference'


def test_the_seeds_disagreement_is_named_by_pair_and_by_the_order_they_agree_on():
    # The 5000-iteration rankings in the README: only IGAN_self moves.
    orders = {10: ['IGAN_self', 'EDSR_small', 'IGAN_none', 'IGAN_growth', 'RCAN_small'],
              11: ['EDSR_small', 'IGAN_none', 'IGAN_growth', 'IGAN_self', 'RCAN_small']}
    names = ['EDSR_small', 'IGAN_none', 'IGAN_self', 'IGAN_growth', 'RCAN_small']
    assert budget_report.changed_pairs(orders, names) == [
        'EDSR_small / IGAN_self', 'IGAN_none / IGAN_self', 'IGAN_self / IGAN_growth']
    assert budget_report.changed_pairs({10: orders[11], 11: list(orders[11])}, names) == []
    # What both seeds agree on: IGAN_self's move ties it with the three it changes places with, RCAN_small stays last.
    assert budget_report.agreed_tiers(orders, names) == [
        ['EDSR_small', 'IGAN_none', 'IGAN_self', 'IGAN_growth'], ['RCAN_small']]
    assert budget_report.agreed_tiers({10: orders[11], 11: list(orders[11])}, orders[11]) == [[n] for n in orders[11]]
    assert budget_report.stability(orders, names) == (
        'NOT the same across seeds; pairs whose order changes: EDSR_small / IGAN_self, IGAN_none / IGAN_self, '
        'IGAN_self / IGAN_growth; the order every seed agrees on, ties in brackets: (EDSR_small = IGAN_none = '
        'IGAN_self = IGAN_growth) > RCAN_small')
    assert budget_report.stability({10: orders[11], 11: orders[11]}, orders[11]) == 'the same for every seed'
    # The 10000-iteration rankings: two pairs swap, each a tie of its own.
    tenk = {10: ['IGAN_self', 'IGAN_none', 'EDSR_small', 'IGAN_growth', 'RCAN_small'],
            11: ['IGAN_none', 'IGAN_self', 'IGAN_growth', 'EDSR_small', 'RCAN_small']}
    assert budget_report.agreed_tiers(tenk, tenk[10]) == [
        ['IGAN_self', 'IGAN_none'], ['EDSR_small', 'IGAN_growth'], ['RCAN_small']]


def scored(arch, per_image, params=1e6, flops=2e9):
    """A result as measure gives it, on benchmark B's images a, b, c (`per_image`: their PSNR)."""
    images = {i: {'psnr': v, 'ssim': 0.8} for i, v in zip('abc', per_image)}
    return {'arch': arch, 'params': params, 'flops': flops, 'per_image': {'B': images},
            'metrics': {'B': {'psnr': sum(per_image) / 3, 'ssim': 0.8}}}


@pytest.fixture
def report(tmp_path):
    """The files of a comparison of three models over seeds 1 and 2 against `ref`: `better` 1, 2 and 3 dB above it
    on images a, b, c in both seeds, `worse` 0.5 dB below on every image, and Bicubic far below."""
    rows = {}
    for seed, shift in ((1, 0), (2, 0.2)):
        ref = [30 + shift, 31 + shift, 32 + shift]
        for name, values in (('ref', ref), ('better', [v + d for v, d in zip(ref, (1, 2, 3))]),
                             ('worse', [v - 0.5 for v in ref])):
            budget_report.add_result(rows, name, seed, scored('EDSR', values), seconds=90 * seed)
    for seed in (1, 2):
        budget_report.add_result(rows, 'Bicubic', seed, scored('MatlabBicubic', [25, 26, 27], 0, 0))
    budget = budget_report.Budget({'datasets': {'train': {'batch_size_per_gpu': 8, 'gt_size': 64, 'dataroot_gt':
                                                          'data/HR.lmdb'}}, 'train': {'total_iter': 5000}},
                                  [1, 2], (320, 180), 2, None, ('channels_last',), 'abc123')
    text = budget_report.write_report(str(tmp_path), budget, list(rows.values()), 'ref', ['B'])
    return tmp_path, text


def test_the_table_ranks_by_mean_and_calls_each_gap_by_its_sign(report):
    folder, text = report
    rows = {r['name']: r for r in read_csv(folder / 'budget.csv')}
    assert list(rows) == ['better', 'ref', 'worse', 'Bicubic']  # best mean first
    assert [rows[n]['B_verdict'] for n in rows] == ['higher', '', 'lower', 'lower']
    assert [float(rows['better'][k]) for k in ('B_gap', 'B_ci_low', 'B_ci_high', 'B_gap_sd')] == pytest.approx(
        [2, 1, 3, 0], abs=1e-12)
    assert float(rows['worse']['B_gap']) == pytest.approx(-0.5) and float(rows['Bicubic']['B_gap']) == pytest.approx(
        -5.1)
    assert [rows[n]['rank_seed2'] for n in rows] == ['1', '2', '3', '4']
    assert float(rows['ref']['mean_psnr']) == pytest.approx(31.1) and float(rows['ref']['sd_psnr']) == pytest.approx(
        0.2 / 2 ** 0.5)
    assert float(rows['better']['diff_psnr']) == pytest.approx(2) and rows['Bicubic']['train_min_seed1'] == ''
    assert float(rows['ref']['train_min_seed2']) == 3.0
    assert (folder / 'budget.md').read_text() == text
    assert text.splitlines()[7] == (
        '| model | arch | params (M) | GFLOPs | B PSNR s1 | B SSIM s1 | rank s1 | min s1 | B PSNR s2 | B SSIM s2 | '
        'rank s2 | min s2 | mean PSNR | sd | vs ref | (sd) | B vs ref | 95% CI low | 95% CI high | seeds sd | gap |')
    assert text.splitlines()[9] == ('| better | EDSR | 1.000 | 2.0 | 33.000 | 0.8000 | 1 | 1.5 | 33.200 | 0.8000 | 1 | '
                                    '3.0 | 33.100 | 0.141 | +2.000 | 0.000 | +2.000 | +1.000 | +3.000 | 0.000 | '
                                    'higher |')


def test_the_notes_state_the_budget_the_protocol_and_the_rankings(report):
    notes = report[1].split('\n\n')[0].splitlines()
    assert notes[0] == ('Equal budget: 5000 iterations each, batch 8, HR patch 64, training data data/HR.lmdb; seeds '
                        '1, 2 (manual_seed); every model trained channels_last (NHWC).  ')
    assert notes[2] == ('GFLOPs for a 320x180 LR input (torch.utils.flop_counter); min = minutes of training as '
                        'basicsr logged them (a resumed run: its attempts summed), 2 run(s) at a time; weights: '
                        'experiments/budget_<model>_seed<seed>_abc123/models/net_g_latest.pth.  ')
    assert notes[3] == ('Ranking by mean PSNR: seed 1: better > ref > worse > Bicubic; seed 2: better > ref > worse > '
                        'Bicubic (the same for every seed).  ')
    assert notes[5].startswith('<benchmark> vs ref = mean over the images of the paired PSNR difference')
    assert notes[5].endswith('else "no clear difference". Every image\'s PSNR of every run: per_image.csv.  ')


def test_per_image_csv_holds_every_runs_image_scores_and_the_plot_a_bar_per_model_and_seed(report):
    folder, _ = report
    lines = read_csv(folder / 'per_image.csv')
    assert list(lines[0]) == ['benchmark', 'image', 'better_seed1', 'better_seed2', 'ref_seed1', 'ref_seed2',
                              'worse_seed1', 'worse_seed2', 'Bicubic']  # the table's order, Bicubic once
    assert [(r['benchmark'], r['image']) for r in lines] == [('B', 'a'), ('B', 'b'), ('B', 'c')]
    assert [float(v) for r in lines for v in list(r.values())[2:]] == pytest.approx(
        [31, 31.2, 30, 30.2, 29.5, 29.7, 25] + [33, 33.2, 31, 31.2, 30.5, 30.7, 26]
        + [35, 35.2, 32, 32.2, 31.5, 31.7, 27])
    # One panel (5 inches: at least 1.3 per trained model) for B at 120 dpi; no curves without --curve-every.
    assert png_size(folder / 'budget.png') == (600, 504)
    assert not (folder / 'curves.csv').exists()
