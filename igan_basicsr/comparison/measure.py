"""Size, cost and quality of one model given by an option file, measured through basicsr's test path.

`python -m igan_basicsr.comparison.measure OPT.yml --json OUT.json [--size 320x180] [--runs 5] [--benchmark DIR ...]
[--import MODULE ...]` runs in a fresh process per model (compare_models.py and budget_compare.py start one each), so
the peak resident memory it reports belongs to that model alone; it loads the basicsr.plugins entry points and the
--import modules first, so a plugin's network builds there as in the process that started it.
"""
import argparse
import contextlib
import copy
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

import igan_basicsr  # noqa: F401  (registers IGAN and the models, and makes basicsr importable)
from igan_basicsr.models.precision import conv_tf32
from igan_basicsr.options import OptionError, load_options
from igan_basicsr.plugins import PluginError, add_import_argument, import_arguments, load_plugins
from igan_basicsr.prepare.benchmark_sets import lr_folder
from igan_basicsr.prepare.errors import PrepareError
from igan_basicsr.prepare.images import decoded_size, pair_list_file, paired_images, scale_problem

PROTOCOL = 'basicsr calculate_psnr/calculate_ssim on the Y channel, crop_border = scale'
METRICS = {'psnr': 'calculate_psnr', 'ssim': 'calculate_ssim'}
# The row of MATLAB bicubic upscaling (igan_basicsr.archs.MatlabBicubic), as super-resolution papers print it.
BICUBIC, BICUBIC_ARCH = 'Bicubic', 'MatlabBicubic'


def parse_size(text):
    """'320x180' (width x height of the LR input) -> (320, 180)."""
    try:
        width, height = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'size {text!r} is not WIDTHxHEIGHT, e.g. 320x180') from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f'size {text!r} must be positive')
    return width, height


def checkpoint_of(opt):
    return (opt.get('path') or {}).get('pretrain_network_g')


class WeightsFor(NamedTuple):
    """`--weights OPTION_FILE=CHECKPOINT`: the checkpoint to score an option file's model with, instead of its
    path.pretrain_network_g."""
    option_file: str
    checkpoint: str


def parse_weights_for(text):
    """'options/x.yml=experiments/x/models/net_g_5000.pth' -> WeightsFor."""
    option_file, sep, checkpoint = text.partition('=')
    if not sep or not option_file or not checkpoint:
        raise argparse.ArgumentTypeError(f'{text!r} is not OPTION_FILE=CHECKPOINT, e.g. '
                                         'options/test_IGAN_x4.yml=experiments/IGAN_x4/models/net_g_5000.pth')
    return WeightsFor(option_file, checkpoint)


def weights_by_file(parser, assignments, option_files):
    """{option file: checkpoint} of the --weights OPTION_FILE=CHECKPOINT arguments; an option file not among
    `option_files`, or given twice, is a parser error."""
    found = {}
    for option_file, checkpoint in assignments:
        if option_file not in option_files:
            parser.error(f'--weights {option_file}={checkpoint}: {option_file} is not one of the option files '
                         'compared; name it as on the command line.')
        if option_file in found:
            parser.error(f'--weights names {option_file} twice.')
        found[option_file] = checkpoint
    return found


def bicubic_option_file(folder, scale):
    """Write <folder>/bicubic_x<scale>.yml, the option file of the bicubic row (a network without parameters,
    scored without weights), and return its path."""
    path = os.path.join(folder, f'bicubic_x{scale}.yml')
    with open(path, 'w') as f:
        yaml.safe_dump({'name': BICUBIC, 'model_type': 'SRModel', 'scale': scale, 'num_gpu': 0,
                        'network_g': {'type': BICUBIC_ARCH, 'upscale': scale},
                        'path': {'pretrain_network_g': None}}, f, sort_keys=False)
    return path


def benchmark_dataset(folder, scale):
    """basicsr PairedImageDataset options for a `datasets/benchmark/<Name>` folder: HR/ and LR_bicubic/X{scale}/.

    Every image is decoded once here, and each LR image checked against its HR one's size: a damaged file or a
    mismatched pair would otherwise surface as an OpenCV traceback that names no file, after every model of a
    comparison has trained. Files that are not images are skipped, with a note."""
    folder = folder.rstrip('/')
    gt, lq = os.path.join(folder, 'HR'), os.path.join(folder, lr_folder(scale))
    for sub in (gt, lq):
        if not os.path.isdir(sub):
            raise OptionError(f'{folder}: expected the benchmark layout <Name>/HR and <Name>/LR_bicubic/X{scale}, '
                              f'but {sub} is not a folder.')
    try:
        pairs, left_out = paired_images(gt, lq, f'{{}}x{scale}')
    except PrepareError as err:
        raise OptionError(str(err)) from None
    try:
        sizes = [(decoded_size(path), decoded_size(lr_path)) for path, lr_path in pairs]
    except PrepareError as err:
        raise OptionError(f'{folder}: {err}; replace it (scripts/data_preparation/prepare_benchmark.py writes this '
                          'layout from HR images).') from None
    if not pairs:
        raise OptionError(f'{gt}: no images.')
    for (path, lr_path), (hr_size, lr_size) in zip(pairs, sizes):
        problem = scale_problem(path, hr_size, lr_path, lr_size, scale)
        if problem:
            raise OptionError(f'{problem}; write the LR images again from HR '
                              '(scripts/data_preparation/prepare_benchmark.py).')
    dataset = {'name': os.path.basename(folder), 'type': 'PairedImageDataset', 'dataroot_gt': gt, 'dataroot_lq': lq,
               'filename_tmpl': f'{{}}x{scale}', 'io_backend': {'type': 'disk'}, 'phase': 'val', 'scale': scale}
    if left_out:
        print(f"note: {folder}: skipping {', '.join(left_out)}: not images, or LR images without an HR image.",
              file=sys.stderr, flush=True)
        dataset['meta_info_file'] = pair_list_file(pairs)
    return dataset


def inference_options(opt, device, weights, val=None):
    """`opt` made into a single-process test configuration; `weights` replaces path.pretrain_network_g and
    `val` adds to (or replaces) the file's test options, e.g. {'tile': 128}."""
    opt = copy.deepcopy(opt)
    opt.update(is_train=False, dist=False, rank=0, world_size=1, num_gpu=1 if device == 'cuda' else 0)
    opt.setdefault('model_type', 'SRModel')
    opt['path'] = dict(opt.get('path') or {}, pretrain_network_g=weights)
    # The comparison protocol is the script's, not the file's: the file's metrics and image saving are replaced.
    scale = opt['scale']
    opt['val'] = dict(opt.get('val') or {}, **(val or {}), save_img=False, metrics=metric_options(scale))
    return opt


def metric_options(scale, names=tuple(METRICS)):
    """basicsr's val.metrics of the comparison protocol (PROTOCOL) for the metrics `names`."""
    return {name: {'type': METRICS[name], 'crop_border': scale, 'test_y_channel': True} for name in names}


def device_name(device):
    if device == 'cuda':
        return torch.cuda.get_device_name()
    model = platform.processor() or platform.machine()
    if os.path.isfile('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            model = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), model)
    return f'CPU ({model}, {torch.get_num_threads()} threads)'


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def _rss_mib():
    # ru_maxrss is in KiB on Linux: the largest resident set this process has had so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latencies(times):
    """Median, fastest and slowest of the timed runs, in ms (None without runs)."""
    if not times:
        return {'latency_ms': None, 'latency_min_ms': None, 'latency_max_ms': None}
    return {'latency_ms': statistics.median(times) * 1000, 'latency_min_ms': min(times) * 1000,
            'latency_max_ms': max(times) * 1000}


def profile(model, size, runs, device):
    """Parameters, forward FLOPs, latency (median, min and max over `runs` after one warm-up) and peak memory of
    model.test() on one random LR input of `size` (convolutions do the same work whatever the pixels)."""
    net = model.get_bare_model(model.net_g)
    width, height = size
    torch.manual_seed(0)
    model.feed_data({'lq': torch.rand(1, 3, height, width)})
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    # What the model holds before any input: the growth above it is the inference's own.
    base = torch.cuda.memory_allocated() / 2**20 if device == 'cuda' else _rss_mib()
    model.test()  # warm-up: first-call allocations, and compilation under `compile:`
    counter = FlopCounterMode(display=False)
    # FLOPs are counted on the eager graph: the counter cannot see inside a compiled one.
    with counter, torch.compiler.set_stance('force_eager'):
        model.test()
    times = []
    for _ in range(runs):
        sync(device)
        start = time.perf_counter()
        model.test()
        sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda' else _rss_mib()
    return {'params': sum(p.numel() for p in net.parameters()), 'flops': counter.get_total_flops(),
            **latencies(times), 'peak_mem_mib': peak, 'mem_before_inference_mib': base,
            'output_shape': list(model.output.shape)}


@contextlib.contextmanager
def recorded_metrics(types):
    """{metric type: [value, ...]}: every value basicsr's calculate_metric computes for the metric `types` (e.g.
    'calculate_psnr') inside the block, in order. Each model class's validation loop (SRModel's, or a plugin's
    own) scores an image through calculate_metric, which looks the function up in METRIC_REGISTRY: the entries
    are wrapped for the block (through the registry's map; basicsr 1.4.2 has no call to replace one)."""
    from basicsr.utils.registry import METRIC_REGISTRY
    originals = {name: METRIC_REGISTRY.get(name) for name in types}
    values = {name: [] for name in types}

    def recorder(name, metric):
        def record(*args, **kwargs):
            value = metric(*args, **kwargs)
            values[name].append(float(value))
            return value
        return record

    METRIC_REGISTRY._obj_map.update({name: recorder(name, metric) for name, metric in originals.items()})
    try:
        yield values
    finally:
        METRIC_REGISTRY._obj_map.update(originals)


def image_names(dataset):
    """The stems of a paired dataset's HR images, in its (and its validation loader's) order."""
    return [os.path.splitext(os.path.basename(p['gt_path']))[0] for p in dataset.paths]


def evaluate(model, datasets):
    """({benchmark: {metric: mean}}, {benchmark: {image: {metric: value}}}) through basicsr's own validation
    loop (model.validation), each image's values recorded as the loop computes them."""
    from basicsr.data import build_dataloader, build_dataset
    means, per_image = {}, {}
    metrics = {name: opt['type'] for name, opt in model.opt['val']['metrics'].items()}
    for dataset_opt in datasets:
        dataset = build_dataset(dataset_opt)
        loader = build_dataloader(dataset, dataset_opt, num_gpu=0, dist=False, sampler=None)
        with recorded_metrics(set(metrics.values())) as values:
            model.validation(loader, current_iter=0, tb_logger=None, save_img=False)
        names = image_names(dataset)
        if any(len(v) != len(names) for v in values.values()):
            raise RuntimeError(f"{type(model).__name__}'s validation scored {dataset_opt['name']}'s {len(names)} "
                               f"images {', '.join(f'{len(v)} times by {k}' for k, v in values.items())}: per-image "
                               "scores need one basicsr calculate_metric call per image and metric.")
        means[dataset_opt['name']] = dict(model.metric_results)
        per_image[dataset_opt['name']] = {image: {metric: values[kind][i] for metric, kind in metrics.items()}
                                          for i, image in enumerate(names)}
    return means, per_image


def run(opt_path, size, runs, benchmarks, weights_override=None, use_weights=True, device=None, val=None):
    """The measurements of one model (`measure`'s result). A network without parameters (the bicubic row)
    needs no weights to be scored."""
    from basicsr.models import build_model
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    opt = load_options(opt_path)
    weights = weights_override or (checkpoint_of(opt) if use_weights else None)
    if device == 'cuda' and 'tf32' not in (opt.get('val') or {}):
        # Peers convolve at PyTorch's global precision (TF32 by default); SwitchSRModel's test default is float32.
        # Every model measured runs at the same one unless its option file says otherwise.
        val = dict(val or {}, tf32=conv_tf32())
    model = build_model(inference_options(opt, device, weights, val))
    scored = bool(weights) or not list(model.get_bare_model(model.net_g).parameters())
    datasets = [benchmark_dataset(b, opt['scale']) for b in benchmarks] if scored and use_weights else []
    tf32 = getattr(model, 'test_tf32', conv_tf32())
    if val and 'tile' in val and not hasattr(model, 'tile'):
        raise OptionError(f"{opt_path}: model_type {type(model).__name__} has no tiled inference; use SwitchSRModel.")
    result = {'name': opt['name'], 'option_file': opt_path, 'arch': opt['network_g']['type'], 'scale': opt['scale'],
              'weights': weights, 'size': f'{size[0]}x{size[1]}', 'runs': runs, 'device': device_name(device),
              'device_type': device, 'val': {k: v for k, v in model.opt['val'].items() if k != 'metrics'},
              'conv_precision': ('TF32' if tf32 else 'float32') if device == 'cuda' else None}
    result.update(profile(model, size, runs, device))
    result['metrics'], result['per_image'] = evaluate(model, datasets)
    return result


class MeasureFailed(RuntimeError):
    """A measuring subprocess that exited with an error; the message names the option file and ends with its
    error output."""


def measure(opt_path, size, runs, benchmarks=(), weights=None, use_weights=True, device=None, tile=None, tile_pad=None,
            imports=()):
    """`run` in a fresh Python process, so that its peak memory is this model's alone; returns its result. That
    process loads the announced plugins and the modules `imports` (--import) before it reads the option file."""
    options = {'--weights': weights or None, '--device': device or None, '--tile': tile, '--tile-pad': tile_pad}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'result.json')
        cmd = [sys.executable, '-m', 'igan_basicsr.comparison.measure', opt_path, '--json', out,
               '--size', f'{size[0]}x{size[1]}', '--runs', str(runs)] + ['--no-weights'] * (not use_weights)
        cmd += [a for b in benchmarks for a in ('--benchmark', b)] + import_arguments(imports)
        cmd += [a for flag, value in options.items() if value is not None for a in (flag, str(value))]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise MeasureFailed(f'{opt_path}: measuring failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}')
        with open(out) as f:
            return json.load(f)


def precision_note(rows):
    """A table note naming the CUDA convolution precision of each measured row; None off CUDA."""
    groups = {}
    for r in rows:
        if r.get('conv_precision'):
            groups.setdefault(r['conv_precision'], []).append(r.get('variant') or r['name'])
    if not groups:
        return None
    return ('CUDA convolutions: ' + '; '.join(f"{p} for {', '.join(names)}" for p, names in groups.items())
            + " (PyTorch's torch.backends.cudnn.conv.fp32_precision; SwitchSRModel's val: tf32 is set to match it "
            'unless the option file sets it).')


def add_weight_arguments(parser):
    """The arguments that say which weights a measured model uses, what it is scored on, and where it runs."""
    parser.add_argument('--benchmark', action='append', default=[],
                        help='datasets/benchmark/<Name> folder (HR/, LR_bicubic/X<scale>/); repeatable')
    parser.add_argument('--weights', help='checkpoint to use instead of path.pretrain_network_g')
    parser.add_argument('--no-weights', action='store_true', help='ignore checkpoints: FLOPs, time and memory only')
    parser.add_argument('--device', choices=('cpu', 'cuda'), help='default: cuda where present')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('opt', help='option file naming network_g and optionally path.pretrain_network_g')
    parser.add_argument('--json', required=True, help='where to write the measurements')
    parser.add_argument('--size', type=parse_size, default=(320, 180), help='LR input WIDTHxHEIGHT (default 320x180)')
    parser.add_argument('--runs', type=int, default=5, help='timed runs after one warm-up (0: no latency)')
    add_weight_arguments(parser)
    parser.add_argument('--tile', type=int, help="set val: tile (SwitchSRModel's tiled inference)")
    parser.add_argument('--tile-pad', type=int, help='set val: tile_pad')
    add_import_argument(parser)
    args = parser.parse_args(argv)
    val = {k: v for k, v in (('tile', args.tile), ('tile_pad', args.tile_pad)) if v is not None}
    try:
        load_plugins(args.imports)
        result = run(args.opt, args.size, args.runs, args.benchmark, args.weights, not args.no_weights, args.device,
                     val)
    except (OptionError, PluginError) as err:
        parser.exit(2, f'error: {err}\n')
    with open(args.json, 'w') as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
