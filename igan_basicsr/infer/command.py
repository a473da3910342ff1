"""`basicsr infer`: upscale your own images with an IGAN checkpoint, any BasicSR network's option file, or an
exported ONNX model.

    basicsr infer -i photos/ -o upscaled/ --weights IGAN_x4.pth
    basicsr infer -i 'scans/*.tif' -o out/ -opt options/compare/EDSR_x4.yml --weights EDSR_x4.pth
    basicsr infer -i photo.jpg -o out/ --onnx igan_x4.onnx

Each input becomes OUTDIR/{stem}.png (or {stem}_{suffix}.png), written whole or not at all. Files that are not
images are reported and skipped; the exit status is then 1. Bad arguments stop the run before any work (exit 2).
"""
import argparse
import glob
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from tqdm import tqdm

from ..plugins import add_import_argument
from .engines import EngineError, from_onnx, from_option_file, from_weights
from .image_io import OUTPUT_EXTENSIONS, NotAnImage, read_picture, refusal, write_picture
from .memory import CPU_FRACTION, CUDA_FRACTION, MIN_TILE
from .upscaler import AUTO, NEVER, Switches, Upscaler

PROG = 'basicsr infer'
AMP = {'bf16': torch.bfloat16, 'fp16': torch.float16}
GLOB_CHARS = '*?['
# Names listed in the summary line; the rest are counted (each was reported when it was skipped).
LISTED = 5


class UsageError(ValueError):
    """Bad arguments, found before any work: exit status 2."""


class ImageError(RuntimeError):
    """An unexpected failure on one image (a full disk, a network that fails on it), naming the image."""


@dataclass
class Job:
    source: str
    output: str


class Skip(NamedTuple):
    name: str  # the file's name, as the summary lists it
    reason: str


@dataclass
class Tally:
    written: int = 0
    existing: int = 0
    skipped: list[Skip] = field(default_factory=list)
    megapixels: float = 0.  # of output written
    seconds: float = 0.


def tile_setting(value):
    if value == AUTO:
        return AUTO
    try:
        tile = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto', 0 or an integer >= {MIN_TILE}, got {value!r}") from None
    if tile != NEVER and tile < MIN_TILE:
        raise argparse.ArgumentTypeError(f'{tile} is below {MIN_TILE} LR pixels (0 turns tiling off)')
    return tile


def non_negative(value):
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f'{value} is negative')
    return number


def parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog='\n'.join(__doc__.splitlines()[2:]))
    p.add_argument('-i', '--input', nargs='+', required=True, metavar='INPUT',
                   help='image files, folders (not recursive) or globs')
    p.add_argument('-o', '--output', required=True, metavar='OUTDIR', help='folder for the upscaled images')
    p.add_argument('--weights', help='checkpoint (.pth or .safetensors): an IGAN one alone (released or BasicSR '
                   'layout, params_ema preferred), or the weights for -opt')
    p.add_argument('-opt', help="option file whose network_g and model_type run (any network in basicsr's "
                   'registry); weights from its path: pretrain_network_g unless --weights')
    add_import_argument(p)
    p.add_argument('--onnx', help='ONNX model from scripts/deployment/export_onnx.py, run by onnxruntime')
    p.add_argument('--scale', type=int, help="refuse a model of another scale")
    p.add_argument('--tile', type=tile_setting, default=AUTO,
                   help=f'LR pixels per tile side (>= {MIN_TILE}); 0: never tile; auto (default): the whole image '
                   'when it fits the memory budget, else the largest tile that does')
    p.add_argument('--tile-pad', type=non_negative, default=16, help='LR context pixels around each tile (16)')
    p.add_argument('--memory-budget', type=float, metavar='GB',
                   help=f'memory --tile auto may use (default: {CPU_FRACTION:.0%}% of the available RAM, '
                   f'{CUDA_FRACTION:.0%}% of the free GPU memory)')
    p.add_argument('--amp', choices=tuple(AMP), help='mixed precision; a tile whose output is not finite is '
                   'recomputed in float32 (fp16: CUDA only)')
    p.add_argument('--self-ensemble', action='store_true', help='mean over the 8 flips/rotations (8x slower)')
    p.add_argument('--suffix', default='', help='write {stem}_{suffix}.EXT')
    p.add_argument('--ext', choices=('png', 'jpg', 'same'), default='png',
                   help='output format (png: lossless, keeps 16 bits and alpha; same: as the input)')
    p.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto', help='auto: CUDA when present')
    p.add_argument('--skip-existing', action='store_true', help='leave outputs that already exist (resume a run)')
    p.add_argument('--debug', action='store_true', help='show the traceback of an unexpected error')
    return p


def check_model(args):
    """UsageError unless exactly one model is given, and its files exist."""
    if args.onnx and (args.weights or args.opt):
        raise UsageError('--onnx runs the network and weights inside the ONNX file: drop --weights and -opt')
    if not (args.onnx or args.opt or args.weights):
        raise UsageError('give a model: --weights W.pth, -opt FILE.yml [--weights W.pth] or --onnx M.onnx')
    for flag, path in (('--weights', args.weights), ('--onnx', args.onnx)):
        if path and not os.path.isfile(path):
            raise UsageError(f'{flag} {path}: no such file')


def check_arguments(args):
    """The device to run on, or a UsageError for any combination that cannot run."""
    check_model(args)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise UsageError('--device cuda: no CUDA GPU is available here')
    cuda = args.device == 'cuda' or args.device == 'auto' and torch.cuda.is_available()
    if args.amp and args.onnx:
        raise UsageError('--amp does not apply to --onnx (the ONNX model runs in float32)')
    if args.amp == 'fp16' and not cuda:
        raise UsageError('--amp fp16 needs a CUDA GPU; on CPU use --amp bf16')
    if args.memory_budget is not None and args.memory_budget <= 0:
        raise UsageError(f'--memory-budget {args.memory_budget}: must be positive')
    if os.sep in args.suffix or (os.altsep and os.altsep in args.suffix):
        raise UsageError(f'--suffix {args.suffix!r}: a name, not a path')
    return torch.device('cuda' if cuda else 'cpu')


def _listed(folder):
    """The files directly in `folder`; hidden files (.DS_Store and the like) and unfinished writes left out."""
    names = sorted(n for n in os.listdir(folder) if not n.startswith('.') and not n.endswith('.partial'))
    return [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))]


def collect_inputs(items):
    """Input files from files, folders and globs, in order, each once."""
    found = []
    for item in items:
        if os.path.isdir(item):
            found += _listed(item)
        elif os.path.isfile(item):
            found.append(item)
        elif any(c in item for c in GLOB_CHARS):
            matches = sorted(p for p in glob.glob(item) if os.path.isfile(p))
            if not matches:
                raise UsageError(f'-i {item}: no file matches')
            found += matches
        else:
            raise UsageError(f'-i {item}: no such file or folder')
    seen, unique = set(), []
    for path in found:
        if os.path.realpath(path) not in seen:
            seen.add(os.path.realpath(path))
            unique.append(path)
    if not unique:
        raise UsageError(f'-i {" ".join(items)}: no files there')
    return unique


def output_path(source, outdir, suffix, ext):
    stem, source_ext = os.path.splitext(os.path.basename(source))
    if ext == 'same':
        ext = source_ext.lower() if source_ext.lower() in OUTPUT_EXTENSIONS else '.png'
    else:
        ext = f'.{ext}'
    return os.path.join(outdir, f'{stem}_{suffix}{ext}' if suffix else f'{stem}{ext}')


def plan_jobs(sources, outdir, suffix, ext):
    """A Job per input; UsageError when two inputs would share an output or an output would replace an input."""
    jobs, by_output = [], {}
    inputs = {os.path.realpath(s): s for s in sources}
    for source in sources:
        job = Job(source, output_path(source, outdir, suffix, ext))
        real = os.path.realpath(job.output)
        if real in inputs:
            raise UsageError(f'{job.output} would overwrite the input {inputs[real]}: choose another -o or a --suffix')
        if real in by_output:
            raise UsageError(f'{by_output[real]} and {source} would both be written to {job.output}: '
                             'rename one, or use --ext same')
        by_output[real] = source
        jobs.append(job)
    return jobs


def build_engine(args, device):
    if args.onnx:
        return from_onnx(args.onnx, device, args.scale)
    if args.opt:
        return from_option_file(args.opt, device, args.weights, args.scale, args.imports)
    return from_weights(args.weights, device, args.scale)


def switches(args):
    budget = None if args.memory_budget is None else int(args.memory_budget * 2**30)
    return Switches(tile=args.tile, tile_pad=args.tile_pad, self_ensemble=args.self_ensemble,
                    amp=AMP.get(args.amp), budget=budget)


def describe(upscaler):
    s = upscaler.switches
    if s.tile == AUTO:
        tiles = f'tiles: auto within {upscaler.budget() / 2**30:.1f} GB'
    else:
        tiles = 'tiles: never' if s.tile == NEVER else f'tiles: {s.tile}'
    extras = [tiles + (f' + {s.tile_pad} context' if s.tile != NEVER else '')]
    extras += [f'amp {k}' for k, v in AMP.items() if v == s.amp] + (['self-ensemble'] if s.self_ensemble else [])
    return f'{upscaler.engine.description} on {upscaler.engine.device.type}; {", ".join(extras)}'


def process(job, upscaler, tally, bar):
    """Upscale and write one input, counting it in `tally`."""
    name = os.path.basename(job.source)
    try:
        picture = read_picture(job.source)
    except NotAnImage as err:
        return skip(tally, bar, name, str(err))
    ext = os.path.splitext(job.output)[1].lower()
    reason = refusal(picture, ext)
    if reason:
        return skip(tally, bar, name, reason)
    try:
        result = upscaler(picture)
    except torch.OutOfMemoryError:
        # What the failed image held is freed for the next one; a smaller tile or budget would have fitted.
        torch.cuda.empty_cache()
        return skip(tally, bar, name, 'out of memory: lower --tile or --memory-budget')
    if result.recomputed:
        bar.write(f'warning: {name}: {result.recomputed} of {result.passes} network passes gave non-finite '
                  'mixed-precision output and were recomputed in float32', file=sys.stderr)
    write_picture(job.output, result.picture)
    height, width = result.picture.size
    tally.written += 1
    tally.megapixels += height * width / 1e6


def skip(tally, bar, name, reason):
    tally.skipped.append(Skip(name, reason))
    bar.write(f'skipped {name}: {reason}', file=sys.stderr)


def summary(tally, jobs_total):
    rate = f' ({tally.megapixels / tally.seconds:.3g} MP/s)' if tally.written and tally.seconds else ''
    parts = [f'{tally.written} written{rate}']
    if tally.existing:
        parts.append(f'{tally.existing} already there (--skip-existing)')
    line = ', '.join(parts)
    if tally.skipped:
        listed = ', '.join(f'{s.name} ({s.reason})' for s in tally.skipped[:LISTED])
        more = f' and {len(tally.skipped) - LISTED} more' if len(tally.skipped) > LISTED else ''
        line += f', {len(tally.skipped)} skipped: {listed}{more}'
    return f'{line} (of {jobs_total} inputs)' if tally.existing or tally.skipped else line


def run(args, device):
    jobs = plan_jobs(collect_inputs(args.input), args.output, args.suffix, args.ext)
    upscaler = Upscaler(build_engine(args, device), switches(args))
    print(describe(upscaler), flush=True)
    os.makedirs(args.output, exist_ok=True)
    tally, start = Tally(), time.perf_counter()
    with tqdm(jobs, unit='image', disable=None, file=sys.stderr) as bar:
        for job in bar:
            if args.skip_existing and os.path.exists(job.output):
                tally.existing += 1
                continue
            try:
                process(job, upscaler, tally, bar)
            except Exception as err:
                raise ImageError(f'{job.source}: {type(err).__name__}: {err}') from err
            tally.seconds = time.perf_counter() - start
            if tally.seconds:
                bar.set_postfix_str(f'{tally.megapixels / tally.seconds:.3g} MP/s')
    print(summary(tally, len(jobs)))
    print(f'Outputs: {os.path.join(args.output, "")}')
    return 1 if tally.skipped else 0


def main(argv=None):
    p = parser()
    args = p.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return run(args, check_arguments(args))
    except (UsageError, EngineError) as err:
        p.exit(2, f'{PROG}: error: {err}\n')
    except KeyboardInterrupt:
        # The image being written is left only as NAME.partial, removed by atomic.replacing.
        p.exit(130, f'{PROG}: interrupted\n')
    except Exception as err:  # one line for the user; the traceback on request
        if args.debug:
            traceback.print_exc()
        message = str(err) if isinstance(err, ImageError) else f'{type(err).__name__}: {err}'
        p.exit(1, f'{PROG}: error: {message}' + ('' if args.debug else ' (--debug shows where)') + '\n')


if __name__ == '__main__':
    sys.exit(main())
