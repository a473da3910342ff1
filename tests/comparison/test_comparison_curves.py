"""igan_basicsr.comparison.curves: basicsr's own validation every N iterations, read back from its tensorboard
events, written as curves.csv and plotted."""
from comparison_helpers import png_size, read_csv
from conftest import SET5

from igan_basicsr.comparison import curves, measure


def test_validation_every_n_iterations_is_basicsrs_own_logged_to_tensorboard():
    opt = {'scale': 4, 'datasets': {'train': {'name': 't'}}, 'logger': {'print_freq': 100}}
    bench = measure.benchmark_dataset(SET5, 4)
    made = curves.with_validation(opt, [bench], 500)
    assert made['datasets'] == {'train': {'name': 't'}, 'val_1': bench}
    assert made['val'] == {'val_freq': 500, 'save_img': False, 'metrics': {'psnr': {
        'type': 'calculate_psnr', 'crop_border': 4, 'test_y_channel': True}}}
    assert made['logger'] == {'print_freq': 100, 'use_tb_logger': True} and 'val' not in opt


def test_curves_are_read_from_the_tensorboard_events_a_resumed_run_included(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    folder = tmp_path / 'tb_logger' / 'run'
    for points in ([(100, 20.5), (200, 21.0)], [(200, 21.25), (300, 21.5)]):  # a second attempt from iteration 100
        writer = SummaryWriter(log_dir=str(folder))
        for step, value in points:
            writer.add_scalar('metrics/Set5/psnr', value, step)
            writer.add_scalar('metrics/Set5/ssim', value / 30, step)
            writer.add_scalar('metrics/B100/psnr', value - 1, step)
        writer.add_scalar('losses/l_pix', 0.1, 300)
        writer.close()
    found = curves.read_curves(str(folder))
    assert found == {'Set5': [(100, 20.5), (200, 21.25), (300, 21.5)], 'B100': [(100, 19.5), (200, 20.25),
                                                                                 (300, 20.5)]}
    runs = [curves.Curve('igan', 10, dataset, points) for dataset, points in found.items()]
    curves.write_curves(str(tmp_path), runs)
    assert read_csv(tmp_path / 'curves.csv')[:2] == [
        {'model': 'igan', 'seed': '10', 'benchmark': 'Set5', 'iteration': '100', 'psnr': '20.5'},
        {'model': 'igan', 'seed': '10', 'benchmark': 'Set5', 'iteration': '200', 'psnr': '21.25'}]
    assert len(read_csv(tmp_path / 'curves.csv')) == 6
    curves.plot_curves(runs, str(tmp_path / 'curves.png'))
    assert png_size(tmp_path / 'curves.png') == (2 * 6 * 120, 504)  # a 6 x 4.2 inch panel per benchmark


def test_only_the_events_written_since_a_run_started_are_read(tmp_path):
    """A run that fails before it logs leaves an earlier run's events in its folder: those are not its own."""
    import time

    from torch.utils.tensorboard import SummaryWriter
    folder = str(tmp_path / 'tb_logger' / 'run')
    writer = SummaryWriter(log_dir=folder)
    writer.add_scalar('losses/l_pix', 0.5, 10, walltime=1000.0)
    writer.add_scalar('losses/l_pix', 0.25, 20, walltime=2000.0)
    writer.add_scalar('metrics/Set5/psnr', 20.0, 10, walltime=1000.0)
    writer.close()
    assert curves.read_scalars(folder) == {'losses/l_pix': [(10, 0.5), (20, 0.25)], 'metrics/Set5/psnr': [(10, 20.0)]}
    assert curves.read_scalars(folder, since=1500.0) == {'losses/l_pix': [(20, 0.25)]}
    assert curves.read_scalars(folder, since=time.time()) == {}
