"""scripts/comparison/budget_compare.py: the runs planned from --base and the option files, trained with basicsr per
seed, scored and reused; every problem refused before anything trains, a failed run ending the comparison."""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
import yaml
from basicsr.archs import build_network
from comparison_helpers import (
    EDSR_TINY,
    IGAN_TINY,
    RCAN_TINY,
    SILENT,
    budget_base,
    model_options,
    plugin_options,
    plugin_packages,
    png_size,
    read_csv,
    run_script,
    script_run,
    set5_bicubic,
    working_in,
)
from conftest import REPO, SCORE_TOLERANCE, SET5, set5_scores, write_yaml

from igan_basicsr.checkpoints import extract_state_dict, load_checkpoint
from scripts.comparison import budget_compare as budget
from scripts.data_preparation import prepare_div2k_lmdb

BUDGET = budget.__file__


def checkpoints(folder):
    """{checkpoint: modification time (ns)} of every run's final weights under <folder>/experiments."""
    return {p: os.stat(p).st_mtime_ns for p in sorted(glob.glob(f'{folder}/experiments/*/models/net_g_latest.pth'))}


def train_twice_and_reuse(folder):
    """The comparison the slow tests read: igan (its file names released weights) and edsr, seeds 1 and 2, two
    iterations on Set5, two at a time; then the same with --reuse, a comparison in another folder, and --reuse again,
    the checkpoints' times taken after each."""
    igan = model_options(folder, 'igan', IGAN_TINY, path={'pretrain_network_g': 'experiments/pretrained_models/x.pth'})
    edsr = model_options(folder, 'edsr', EDSR_TINY, 'SRModel')
    cmd = [igan, edsr, '--base', budget_base(folder), '--seeds', 1, 2, '--iters', 2, '--benchmark', SET5, '--size',
           '16x16', '--jobs', 2, '--out', folder / 'out']
    times = {}
    with working_in(folder):
        for step, argv in (('first', cmd), ('reuse', cmd + ['--reuse']),
                           ('other', cmd[:1] + cmd[2:-1] + [folder / 'other', '--seeds', 1, '--iters', 1]),
                           ('reuse_again', cmd + ['--reuse'])):
            run_script(folder, step, budget, *argv)
            out = folder / ('other' if step == 'other' else 'out')
            (folder / f'{step}.csv').write_text((out / 'budget.csv').read_text())
            times[step] = checkpoints(folder)
    (folder / 'checkpoints.json').write_text(json.dumps(times))


@pytest.fixture
def trained(made_once):
    """The folder of train_twice_and_reuse (made once per test run; only to be read)."""
    folder = made_once('budget_compare_run', train_twice_and_reuse)
    done = script_run(folder, 'first')
    assert done.returncode == 0, done.stderr
    return folder


def run_name(folder, model, seed):
    return f'budget_{model}_seed{seed}_{budget.run_tag(str(folder / "out"))}'


@pytest.mark.slow
def test_every_model_trains_from_scratch_per_seed_and_is_scored_with_its_trained_weights(trained):
    rows = {r['name']: r for r in read_csv(trained / 'first.csv')}
    assert set(rows) == {'igan', 'edsr', 'Bicubic'}
    for name in ('igan', 'edsr'):
        for seed in (1, 2):
            merged = yaml.safe_load((trained / 'out' / 'logs' / f'{run_name(trained, name, seed)}.yml').read_text())
            # --iters 2 over a base of 3 iterations with the lr halved at 100: the milestone scales along.
            assert merged['manual_seed'] == seed and merged['train']['total_iter'] == 2
            assert merged['train']['scheduler']['milestones'] == [67]
            assert 'val' not in merged and list(merged['datasets']) == ['train']
            # A peer file's released weights are for testing: training starts from scratch all the same.
            assert merged['path']['pretrain_network_g'] is None
            ckpt = str(trained / 'experiments' / run_name(trained, name, seed) / 'models' / 'net_g_latest.pth')
            net = build_network(dict(merged['network_g']))
            net.load_state_dict(extract_state_dict(load_checkpoint(ckpt), ckpt), strict=True)
            assert float(rows[name][f'Set5_psnr_seed{seed}']) == pytest.approx(set5_scores(net)[0],
                                                                              abs=SCORE_TOLERANCE)
            assert float(rows[name][f'train_min_seed{seed}']) > 0
    # Different seeds, different initial weights and patches: different scores.
    assert rows['igan']['Set5_psnr_seed1'] != rows['igan']['Set5_psnr_seed2']
    bicubic = np.mean([psnr for psnr, _ in set5_bicubic().values()])
    assert float(rows['Bicubic']['Set5_psnr_seed1']) == float(rows['Bicubic']['Set5_psnr_seed2']) == pytest.approx(
        bicubic, abs=1e-12)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """The working directory of a comparison (its experiments/ go there); one thread per training it starts."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    return tmp_path


def set5_lmdb(folder):
    """Set5 cut into 64x64 sub-images by prepare_div2k_lmdb.py: a training set other than the base file's."""
    root = folder / 'set5_lmdb'
    if not root.exists():
        root.mkdir()
        (root / 'DIV2K_train_HR').symlink_to(os.path.join(SET5, 'HR'))
        assert prepare_div2k_lmdb.main(['--root', str(root), '--scales', '4', '--crop', '64', '--step', '64',
                                        '--workers', '1']) == 0
    return str(root)


@pytest.fixture
def plugins(made_once, monkeypatch):
    return plugin_packages(made_once, monkeypatch)


@pytest.mark.slow
def test_a_run_cut_short_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, in_tmp, call):
    igan = model_options(tmp_path, 'igan', dict(IGAN_TINY, num_feat=8))
    args = [igan, '--base', budget_base(tmp_path, iters=300, save_every=5), '--seeds', '3', '--benchmark', SET5,
            '--size', '16x16']
    cut, whole = tmp_path / 'cut', tmp_path / 'whole'
    name = f'budget_igan_seed3_{budget.run_tag(str(cut))}'
    states = tmp_path / 'experiments' / name / 'training_states'
    log = cut / 'logs' / f'{name}.log'
    # A process of its own, killed (with its trainer) as soon as the first training state is on disk, as a lost
    # machine would be.
    proc = subprocess.Popen([sys.executable, BUDGET, *args, '--out', str(cut)], cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(states.glob('*.state')) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 'End of training.' not in log.read_text()
    kept = max(int(p.stem) for p in states.glob('*.state'))

    assert call(budget, *args, '--out', str(cut), '--reuse').returncode == 0
    text = log.read_text()
    assert text.count('Start training from epoch: 0, iter: 0') == 1
    assert re.search(rf'Resuming training from epoch: \d+, iter: {kept}\.', text) and 'End of training.' in text
    assert call(budget, *args, '--out', str(whole)).returncode == 0
    # One process, no loader workers: resuming restores every RNG and the place in the epoch, so the weights are
    # the uninterrupted run's, bit for bit.
    resumed, uninterrupted = (
        load_checkpoint(str(tmp_path / 'experiments' / f'budget_igan_seed3_{budget.run_tag(str(out))}' / 'models'
                            / 'net_g_latest.pth'))['params'] for out in (cut, whole))
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)
    row, = [r for r in read_csv(cut / 'budget.csv') if r['name'] == 'igan']
    assert row['Set5_psnr_seed3'] == [r for r in read_csv(whole / 'budget.csv') if r['name'] == 'igan'][0][
        'Set5_psnr_seed3']
    assert float(row['train_min_seed3']) > 0


@pytest.mark.slow
def test_an_import_only_plugin_trains_on_an_lmdb_with_learning_curves(tmp_path, in_tmp, plugins, call):
    model = plugin_options(tmp_path, SILENT[1], weights=False)
    root, out = set5_lmdb(tmp_path), tmp_path / 'out'
    proc = call(budget, model, '--base', budget_base(tmp_path, iters=4), '--train-root', root, '--curve-every', '2',
                '--seeds', '3', '--benchmark', SET5, '--size', '16x16', '--import', SILENT[0], '--out', str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(f'wrote budget.md, budget.csv, per_image.csv, curves.csv, curves.png and budget.png '
                                f'to {out}\n')
    run = f'budget_{SILENT[1]}_seed3_{budget.run_tag(str(out))}'
    merged = yaml.safe_load((out / 'logs' / f'{run}.yml').read_text())
    assert merged['datasets']['train']['dataroot_lq'] == f'{root}/DIV2K_train_LR_bicubic_X4_sub.lmdb'
    assert merged['val']['val_freq'] == 2 and merged['datasets']['val_1']['name'] == 'Set5'
    rows = {r['name']: r for r in read_csv(out / 'budget.csv')}
    assert list(rows) == ['Bicubic', SILENT[1]]  # best mean first: four iterations are far below bicubic
    per_image = read_csv(out / 'per_image.csv')
    trained = [float(r[f'{SILENT[1]}_seed3']) for r in per_image]
    assert float(rows[SILENT[1]]['Set5_psnr_seed3']) == pytest.approx(np.mean(trained), abs=1e-12)
    # The gap of Bicubic to the only model (the reference): its mean and interval over the five images, and "higher"
    # (one seed: the interval decides).
    gaps = [float(r['Bicubic']) - t for r, t in zip(per_image, trained)]
    row = rows['Bicubic']
    assert float(row['Set5_gap']) == pytest.approx(np.mean(gaps), abs=1e-9)
    assert min(gaps) <= float(row['Set5_ci_low']) <= float(row['Set5_ci_high']) <= max(gaps)
    assert min(gaps) > 1 and row['Set5_verdict'] == 'higher'
    assert '(one seed: the gap column does not cover the spread between trainings)' in (out / 'budget.md').read_text()
    points = [r for r in read_csv(out / 'curves.csv') if r['benchmark'] == 'Set5']
    assert [(r['model'], r['seed'], r['iteration']) for r in points] == [(SILENT[1], '3', '2'), (SILENT[1], '3', '4')]
    # The curve's last point is basicsr's validation of the weights the table scored (tensorboard keeps float32).
    assert float(points[-1]['psnr']) == pytest.approx(np.mean(trained), abs=1e-4)
    assert png_size(out / 'curves.png') == (720, 504) and png_size(out / 'budget.png') == (600, 504)


@pytest.mark.slow
def test_a_trained_model_that_cannot_be_scored_ends_the_comparison(tmp_path, in_tmp, call):
    bench = tmp_path / 'Tiny'
    for sub, name, size in (('HR', 'dot.png', 4), ('LR_bicubic/X4', 'dotx4.png', 1)):
        (bench / sub).mkdir(parents=True)
        cv2.imwrite(str(bench / sub / name), np.full((size, size, 3), 128, np.uint8))
    # The pooling CAGM needs 2x2 LR pixels: training on 8x8 patches works, scoring the 1x1 image fails.
    models = [model_options(tmp_path, name, dict(IGAN_TINY, cagm='pool')) for name in ('one', 'two')]
    out = tmp_path / 'out'
    proc = call(budget, *models, '--base', budget_base(tmp_path), '--seeds', '1', '--iters', '2',
                '--benchmark', str(bench), '--out', str(out))
    tag = budget.run_tag(str(out))
    assert proc.returncode == 1
    assert f'{out}/logs/budget_one_seed1_{tag}.yml: measuring failed (exit 1)' in proc.stderr
    assert "IGAN (cagm='pool') needs an LR input of at least 2x2 pixels" in proc.stderr
    assert 'No table written' in proc.stderr
    assert not (out / 'budget.md').exists() and not (out / 'budget.csv').exists()
    assert (tmp_path / 'experiments' / f'budget_one_seed1_{tag}' / 'models' / 'net_g_latest.pth').is_file()
    assert not (out / 'logs' / f'budget_two_seed1_{tag}.log').exists()


@pytest.mark.slow
def test_the_first_failed_run_ends_the_comparison_with_its_log(tmp_path, in_tmp, call):
    """A run that fails ends the comparison at once with its log, not after every other run has trained."""
    bad = model_options(tmp_path, 'bad', dict(IGAN_TINY, attention='sideways'))
    good = model_options(tmp_path, 'good', IGAN_TINY)
    out = tmp_path / 'out'
    proc = call(budget, bad, good, '--base', budget_base(tmp_path), '--seeds', '1', '--iters', '2',
                '--benchmark', SET5, '--out', str(out))
    tag = budget.run_tag(str(out))
    assert proc.returncode == 1
    assert f'error: training budget_bad_seed1_{tag} failed (exit 1); log {out}/logs/budget_bad_seed1_{tag}.log' \
        in proc.stderr
    assert "attention='sideways' is not one of" in proc.stderr
    assert proc.stderr.endswith('No table written; fix the run and call again with --reuse to keep the runs that '
                                'finished.\n')
    assert not (out / 'budget.md').exists() and not (out / 'budget.csv').exists()
    assert not (out / 'logs' / f'budget_good_seed1_{tag}.log').exists()


@pytest.mark.slow
def test_each_seed_ranks_the_models_and_differences_are_taken_seed_by_seed(trained):
    rows = {r['name']: r for r in read_csv(trained / 'first.csv')}
    md = (trained / 'out' / 'budget.md').read_text()
    # Each seed's ranks order the models by that seed's PSNR (one benchmark: its mean), best first; two iterations
    # leave both models below the Bicubic row.
    for seed in (1, 2):
        by_psnr = sorted(rows, key=lambda n: -float(rows[n][f'Set5_psnr_seed{seed}']))
        assert [rows[n][f'rank_seed{seed}'] for n in by_psnr] == ['1', '2', '3'] and by_psnr[0] == 'Bicubic'
        assert f"seed {seed}: {' > '.join(by_psnr)}" in md
    # One benchmark: a seed's mean is its Set5 PSNR. Differences are paired by seed, against the first file.
    psnr = {n: [float(rows[n][f'Set5_psnr_seed{s}']) for s in (1, 2)] for n in rows}
    diffs = [e - i for e, i in zip(psnr['edsr'], psnr['igan'])]
    assert float(rows['edsr']['sd_psnr']) == pytest.approx(abs(psnr['edsr'][0] - psnr['edsr'][1]) / 2 ** 0.5)
    assert float(rows['edsr']['diff_psnr']) == pytest.approx(sum(diffs) / 2)
    assert float(rows['edsr']['diff_sd_psnr']) == pytest.approx(abs(diffs[0] - diffs[1]) / 2 ** 0.5)
    assert float(rows['igan']['diff_psnr']) == 0
    by_mean = sorted(['igan', 'edsr'], key=lambda n: -float(rows[n]['mean_psnr']))
    stable = rows['igan']['rank_seed1'] == rows['igan']['rank_seed2']
    assert (' (the same for every seed).' if stable else
            f" (NOT the same across seeds; pairs whose order changes: {' / '.join(by_mean)}; the order every seed "
            f"agrees on, ties in brackets: Bicubic > ({' = '.join(by_mean)})).") in md


@pytest.mark.slow
def test_the_gaps_to_the_reference_are_paired_by_image_and_bicubic_is_called_higher(trained):
    rows = {r['name']: r for r in read_csv(trained / 'first.csv')}
    images = read_csv(trained / 'out' / 'per_image.csv')
    assert [r['image'] for r in images] == sorted(set5_bicubic())
    assert set(images[0]) == {'benchmark', 'image', 'igan_seed1', 'igan_seed2', 'edsr_seed1', 'edsr_seed2', 'Bicubic'}
    for name in ('igan', 'edsr'):
        for seed in (1, 2):  # the table's score is the mean of the images'
            assert float(rows[name][f'Set5_psnr_seed{seed}']) == pytest.approx(
                np.mean([float(r[f'{name}_seed{seed}']) for r in images]), abs=1e-9)
    gaps = [float(r['Bicubic']) - (float(r['igan_seed1']) + float(r['igan_seed2'])) / 2 for r in images]
    row = rows['Bicubic']
    assert float(row['Set5_gap']) == pytest.approx(np.mean(gaps), abs=1e-9)
    assert min(gaps) <= float(row['Set5_ci_low']) <= float(row['Set5_gap']) <= float(row['Set5_ci_high']) <= max(gaps)
    # Two iterations from scratch are far below bicubic on every image and in both seeds: a real gap.
    assert min(gaps) > 1 and row['Set5_verdict'] == 'higher'
    assert rows['igan']['Set5_gap'] == rows['igan']['Set5_verdict'] == ''  # the reference has none
    assert png_size(trained / 'out' / 'budget.png') == (600, 504)  # one 5-inch panel (Bicubic is left out)


@pytest.mark.slow
def test_the_notes_and_the_console_state_the_budget(trained):
    tag = budget.run_tag(str(trained / 'out'))
    notes = (trained / 'out' / 'budget.md').read_text().split('\n\n')[0].splitlines()
    assert notes[0] == (f'Equal budget: 2 iterations each, batch 2, HR patch 32, training data {SET5}/HR; seeds 1, 2 '
                        '(manual_seed).  ')
    assert notes[2].endswith(f'2 run(s) at a time; weights: experiments/budget_<model>_seed<seed>_{tag}/models/'
                             'net_g_latest.pth.  ')
    done = script_run(trained, 'first')
    assert 'training runs: 100%' in done.stderr
    for name in ('igan', 'edsr'):
        assert re.search(rf'^{name} seed 1: \d+\.\d{{3}} dB mean PSNR, \d+\.\d min$', done.stdout, re.M)
    assert done.stdout.endswith(f"wrote budget.md, budget.csv, per_image.csv and budget.png to {trained / 'out'}\n")
    # No speed switch given: SRModel trains as it is.
    merged = yaml.safe_load((trained / 'out' / 'logs' / f'{run_name(trained, "edsr", 1)}.yml').read_text())
    assert merged['model_type'] == 'SRModel' and not {'channels_last', 'compile'} & set(merged)
    assert ' runs with ' not in (trained / 'out' / 'logs' / f'{run_name(trained, "edsr", 1)}.log').read_text()


@pytest.mark.slow
def test_reuse_keeps_the_finished_runs_and_a_comparison_elsewhere_leaves_them_alone(trained):
    times = json.loads((trained / 'checkpoints.json').read_text())
    assert len(times['first']) == 4
    # --reuse keeps the runs that trained to the end with the same options: nothing is trained again.
    assert script_run(trained, 'reuse').returncode == 0 and times['reuse'] == times['first']
    assert (trained / 'reuse.csv').read_text() == (trained / 'first.csv').read_text()
    # A comparison written elsewhere trains runs of its own and leaves this one's weights alone, so --reuse here
    # still scores what this folder's logs describe.
    assert script_run(trained, 'other').returncode == 0
    assert set(times['other']) - set(times['first']) == {
        f"{trained}/experiments/budget_igan_seed1_{budget.run_tag(str(trained / 'other'))}/models/net_g_latest.pth"}
    assert script_run(trained, 'reuse_again').returncode == 0 and times['reuse_again'] == times['other']
    assert (trained / 'reuse_again.csv').read_text() == (trained / 'first.csv').read_text()


@pytest.mark.slow
def test_the_speed_switches_train_a_peer_to_the_weights_it_trains_to_without_them(tmp_path, in_tmp, trained, call):
    edsr = model_options(tmp_path, 'edsr', EDSR_TINY, 'SRModel')
    plain = str(trained / 'experiments' / run_name(trained, 'edsr', 1) / 'models' / 'net_g_latest.pth')
    without = extract_state_dict(load_checkpoint(plain), plain)
    for flag, switch, named in (('--channels-last', 'channels_last', 'channels_last (NHWC)'),
                                ('--compile', 'compile', 'compiled (torch.compile)')):
        out = tmp_path / switch
        proc = call(budget, edsr, '--base', budget_base(tmp_path), '--seeds', '1', '--iters', '2', '--benchmark', SET5,
                    '--size', '16x16', '--out', str(out), flag)
        assert proc.returncode == 0, proc.stderr
        name = f'budget_edsr_seed1_{budget.run_tag(str(out))}'
        merged = yaml.safe_load((out / 'logs' / f'{name}.yml').read_text())
        assert merged['model_type'] == 'SwitchSRModel' and merged[switch] is True
        assert not {'channels_last', 'compile'} - {switch} & set(merged)
        assert f'; every model trained {named}.  \n' in (out / 'budget.md').read_text()
        assert f'EDSR runs with {switch}.' in (out / 'logs' / f'{name}.log').read_text()
        ckpt = str(tmp_path / 'experiments' / name / 'models' / 'net_g_latest.pth')
        trained_with = extract_state_dict(load_checkpoint(ckpt), ckpt)
        # The same seed and patches: NHWC and compiled kernels change only the order of the sums.
        assert trained_with.keys() == without.keys()
        for key, value in without.items():
            torch.testing.assert_close(trained_with[key], value, rtol=0, atol=1e-5)


def test_the_speed_switches_need_a_model_type_that_has_them(tmp_path):
    swinir = model_options(tmp_path, 'swinir', EDSR_TINY, 'SwinIRModel')
    with pytest.raises(budget.OptionError) as err:
        budget.merged_runs(budget_base(tmp_path), [swinir], [1], switches=('channels_last', 'compile'))
    assert str(err.value) == (f"{swinir}: with --channels-last and --compile every model trains with the switches of "
                              "SwitchSRModel; model_type 'SwinIRModel' is neither SRModel nor a SwitchSRModel.")


def test_the_speed_switches_keep_a_files_own_compile_arguments(tmp_path):
    tuned = model_options(tmp_path, 'tuned', EDSR_TINY, 'SRModel', compile={'mode': 'reduce-overhead'})
    plain = model_options(tmp_path, 'plain', EDSR_TINY)
    runs = budget.merged_runs(budget_base(tmp_path), [tuned, plain], [1], switches=('channels_last', 'compile'))
    assert [(run.name, run.opt['model_type'], run.opt['channels_last'], run.opt['compile']) for run in runs] == [
        ('tuned', 'SwitchSRModel', True, {'mode': 'reduce-overhead'}), ('plain', 'IGANModel', True, True)]


def test_the_runs_go_seed_by_seed_named_after_model_seed_and_tag(tmp_path):
    files = [model_options(tmp_path, name, IGAN_TINY) for name in ('one', 'two')]
    runs = budget.merged_runs(budget_base(tmp_path), files, [5, 3], tag='abc')
    assert [(r.name, r.option_file, r.seed, r.opt['name'], r.opt['manual_seed']) for r in runs] == [
        ('one', files[0], 5, 'budget_one_seed5_abc', 5), ('two', files[1], 5, 'budget_two_seed5_abc', 5),
        ('one', files[0], 3, 'budget_one_seed3_abc', 3), ('two', files[1], 3, 'budget_two_seed3_abc', 3)]


def test_training_time_of_a_resumed_run_sums_its_attempts_up_to_the_state_resumed_from():
    log = """2026-01-01 10:00:00,000 INFO: Start training from epoch: 0, iter: 0
2026-01-01 10:05:00,000 INFO: Saving models and training states.
2026-01-01 10:09:00,000 INFO: [run..][epoch:  0, iter:   900, lr:(1.0e-04,)] l_pix: 2.0e-02
2026-01-01 11:00:00,000 INFO: Resuming training from epoch: 0, iter: 500.
2026-01-01 11:00:00,500 INFO: Start training from epoch: 0, iter: 500
2026-01-01 11:07:30,500 INFO: End of training. Time consumed: 0:07:30
2026-01-01 11:07:31,000 INFO: Save the latest model.
"""
    assert budget.training_seconds(log) == 5 * 60 + 7.5 * 60
    assert budget.training_seconds(log.split('2026-01-01 11:00:00,000')[0]) == 5 * 60
    # No state was left to resume from (the experiment folder was removed): the run started over.
    afresh = log.replace('Resuming training from epoch: 0, iter: 500.', 'No training state found.').replace(
        'Start training from epoch: 0, iter: 500', 'Start training from epoch: 0, iter: 0')
    assert budget.training_seconds(afresh) == 7.5 * 60


def test_a_damaged_benchmark_is_refused_before_training(tmp_path, in_tmp, call):
    bench = tmp_path / 'Set5'
    shutil.copytree(SET5, bench)
    lr_dir = bench / 'LR_bicubic' / 'X4'
    model = model_options(tmp_path, 'one', IGAN_TINY)
    cmd = [model, '--base', budget_base(tmp_path), '--seeds', '1', '--iters', '2', '--benchmark', str(bench),
           '--out', str(tmp_path / 'out')]
    (lr_dir / 'birdx4.png').write_bytes(b'')
    proc = call(budget, *cmd)
    assert proc.returncode == 2
    assert proc.stderr == (f'budget_compare.py: error: {bench}: cannot read image {lr_dir}/birdx4.png: it does not '
                           'decode (damaged, truncated or not an image); '
                           'replace it (scripts/data_preparation/prepare_benchmark.py writes this layout from HR '
                           'images).\n')
    # An LR image of another size than its HR one downscaled: basicsr would compare misaligned pixels or fail.
    cv2.imwrite(str(lr_dir / 'birdx4.png'), np.zeros((10, 12, 3), np.uint8))
    proc = call(budget, *cmd)
    assert proc.returncode == 2
    assert (f'error: {lr_dir}/birdx4.png is 12x10, but its HR image {bench}/HR/bird.png (288x288) downscaled x4 is '
            '72x72; write the LR images again from HR (scripts/data_preparation/prepare_benchmark.py).') in proc.stderr
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'experiments').exists()


def test_unequal_budgets_are_refused(tmp_path, in_tmp, call):
    base = budget_base(tmp_path)
    longer = write_yaml(tmp_path / 'longer.yml', {'name': 'longer', 'network_g': RCAN_TINY,
                                                  'train': dict(yaml.safe_load(open(base))['train'], total_iter=9)})
    plain = write_yaml(tmp_path / 'plain.yml', {'name': 'plain', 'network_g': RCAN_TINY})
    proc = call(budget, plain, longer, '--base', base, '--benchmark', SET5, '--out', str(tmp_path / 'o'))
    assert proc.returncode == 2
    assert proc.stderr == (f"budget_compare.py: error: {longer}: train.total_iter differs from {plain}'s; an "
                           'equal-budget comparison needs the same training data and iterations (put them in '
                           '--base).\n')
    assert not (tmp_path / 'experiments').exists()


def test_two_files_naming_one_model_are_refused(tmp_path):
    for name in ('a', 'b'):
        (tmp_path / name).mkdir()
    files = [model_options(tmp_path / name, 'same', IGAN_TINY) for name in ('a', 'b')]
    with pytest.raises(budget.OptionError, match=r"^two option files are both named 'same'\.$"):
        budget.merged_runs(budget_base(tmp_path), files, [1, 2])


def test_an_unknown_reference_a_missing_training_set_and_bad_counts_are_refused(tmp_path, in_tmp, call):
    model = model_options(tmp_path, 'one', IGAN_TINY)
    args = [model, '--base', budget_base(tmp_path), '--benchmark', SET5, '--out', str(tmp_path / 'out')]
    proc = call(budget, *args, '--reference', 'IGAN_growth')
    assert proc.returncode == 2 and proc.stderr == ("budget_compare.py: error: --reference IGAN_growth: no option file "
                                                    "names a model 'IGAN_growth'; the models: one.\n")
    proc = call(budget, *args, '--train-root', str(tmp_path / 'nowhere'))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f'budget_compare.py: error: --train-root {tmp_path}/nowhere: no LMDB '
                                  f'{tmp_path}/nowhere/DIV2K_train_HR_sub.lmdb')
    for flag in ('--jobs', '--iters', '--curve-every'):
        proc = call(budget, *args, flag, '0')
        assert proc.returncode == 2
        assert proc.stderr.endswith('error: --jobs, --iters and --curve-every must be at least 1\n')
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'experiments').exists()


def test_the_training_set_comes_from_a_prepare_div2k_lmdb_folder(tmp_path):
    train = {'name': 'demo', 'type': 'PairedImageDataset', 'dataroot_gt': 'x', 'dataroot_lq': 'y', 'gt_size': 64,
             'meta_info_file': 'm.txt', 'io_backend': {'type': 'disk'}, 'filename_tmpl': '{}x4'}
    with pytest.raises(budget.OptionError) as err:
        budget.lmdb_train_set(train, str(tmp_path / 'train291'), 4)
    assert str(err.value) == (
        f'--train-root {tmp_path}/train291: no LMDB {tmp_path}/train291/DIV2K_train_HR_sub.lmdb; write it with python '
        f'scripts/data_preparation/prepare_div2k_lmdb.py --root {tmp_path}/train291 --scales 4 (HR images in '
        f'{tmp_path}/train291/DIV2K_train_HR).')
    root = set5_lmdb(tmp_path)
    assert budget.lmdb_train_set(train, root, 4) == {
        'name': 'set5_lmdb', 'type': 'PairedImageDataset', 'dataroot_gt': f'{root}/DIV2K_train_HR_sub.lmdb',
        'dataroot_lq': f'{root}/DIV2K_train_LR_bicubic_X4_sub.lmdb', 'gt_size': 64, 'io_backend': {'type': 'lmdb'},
        'filename_tmpl': '{}'}


def test_the_peers_train_under_the_reference_protocol():
    """budget_compare.py --base options/train_IGAN_x4.yml options/compare/*_x4.yml: IGAN's data and schedule,
    each peer's own network and model type, from scratch."""
    reference = os.path.join(REPO, 'options', 'train_IGAN_x4.yml')
    with open(reference) as f:
        protocol = yaml.safe_load(f)
    peers = [os.path.join(REPO, 'options', 'compare', f'{name}_x4.yml') for name in ('EDSR', 'RCAN', 'SwinIR')]
    runs = budget.merged_runs(reference, peers, [10])
    assert [(r.opt['model_type'], r.opt['network_g']['type']) for r in runs] == [
        ('SwitchSRModel', 'EDSR'), ('SwitchSRModel', 'RCAN'), ('SwinIRModel', 'SwinIR')]
    for run, peer in zip(runs, peers):
        with open(peer) as f:
            assert run.opt['network_g'] == yaml.safe_load(f)['network_g']
        assert run.opt['datasets'] == {'train': protocol['datasets']['train']}
        assert run.opt['train'] == protocol['train']
        assert run.opt['path']['pretrain_network_g'] is None and run.opt['manual_seed'] == 10


def test_the_budget_schedule_stretches_to_the_requested_iterations():
    """--iters 5000 over options/compare/budget_train_x4.yml: basicsr's cosine runs to the last iteration and
    ends near zero (a period left at the file's 1500 would stop the trainer at iteration 1501)."""
    from basicsr.models.lr_scheduler import CosineAnnealingRestartLR
    base = os.path.join(REPO, 'options', 'compare', 'budget_train_x4.yml')
    small = os.path.join(REPO, 'options', 'compare', 'small', 'IGAN_growth_x4.yml')
    run, = budget.merged_runs(base, [small], [10], iters=5000)
    train = run.opt['train']
    assert train['total_iter'] == 5000 and train['scheduler']['periods'] == [5000]
    scheduler_opt = dict(train['scheduler'])
    assert scheduler_opt.pop('type') == 'CosineAnnealingRestartLR'
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=train['optim_g']['lr'])
    scheduler = CosineAnnealingRestartLR(optimizer, **scheduler_opt)
    lrs = []
    for _ in range(train['total_iter']):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]['lr'])
    assert lrs[0] == pytest.approx(5e-4, rel=1e-3) and lrs[2499] == pytest.approx(2.5e-4, rel=1e-2)
    assert lrs[-1] == pytest.approx(1e-7, rel=1e-3)


def test_stretched_restart_periods_cover_every_iteration():
    train = {'total_iter': 3, 'scheduler': {'type': 'CosineAnnealingRestartLR', 'periods': [1, 1, 1],
                                            'restart_weights': [1, 1, 1]}}
    assert budget.with_iterations(train, 4)['scheduler']['periods'] == [1, 2, 1]
    assert budget.with_iterations(train, 3000)['scheduler']['periods'] == [1000, 1000, 1000]
    steps = {'total_iter': 300, 'scheduler': {'type': 'MultiStepLR', 'milestones': [100, 200]}}
    assert budget.with_iterations(steps, 1000)['scheduler']['milestones'] == [333, 667]


@pytest.mark.parametrize('family, suffix, names', [
    ('small', '', {'IGAN_growth', 'IGAN_self', 'IGAN_none', 'IGAN_mean', 'RCAN_small', 'EDSR_small'}),
    ('tiny', '_tiny', {'IGAN_growth_tiny', 'IGAN_self_tiny', 'IGAN_none_tiny', 'RCAN_tiny', 'EDSR_tiny'}),
])
def test_the_budget_models_have_matched_sizes(family, suffix, names):
    sizes = {}
    for path in glob.glob(os.path.join(REPO, 'options', 'compare', family, '*.yml')):
        with open(path) as f:
            opt = yaml.safe_load(f)
        sizes[opt['name']] = sum(p.numel() for p in build_network(dict(opt['network_g'])).parameters())
    assert set(sizes) == names
    assert sizes[f'IGAN_growth{suffix}'] == sizes[f'IGAN_self{suffix}']
    for name in (f'RCAN_{family}', f'EDSR_{family}'):
        assert abs(sizes[name] / sizes[f'IGAN_growth{suffix}'] - 1) < 0.05, sizes
