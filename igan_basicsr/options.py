"""Checks of an option file that basicsr would otherwise fail on only after loading data or building models."""
import os

import yaml
from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY

from .basicsr_fixes.distributed import choose_backend
from .models.switch_sr_model import has_switches, option_errors

# What basicsr 1.4.2's BaseModel can build (get_optimizer / setup_schedulers).
OPTIMIZERS = ('Adam', )
SCHEDULERS = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')

REQUIRED_TOP = ('name', 'model_type', 'num_gpu', 'datasets', 'network_g', 'path')
REQUIRED_TRAIN = ('train', 'logger')
REQUIRED_TRAIN_SECTION = ('optim_g', 'scheduler', 'total_iter')
REQUIRED_LOGGER = ('print_freq', 'save_checkpoint_freq')
REQUIRED_DATASET = ('name', 'type', 'io_backend')
REQUIRED_TRAIN_DATASET = ('gt_size', 'batch_size_per_gpu', 'num_worker_per_gpu', 'use_hflip', 'use_rot')


class OptionError(ValueError):
    """An option file, or something it names (a benchmark folder, a checkpoint), that cannot be used; the
    message names the file and says what to do."""


def read_option_file(path):
    """The option file at `path` as a dict, or OptionError with a one-line reason."""
    if not os.path.isfile(path):
        raise OptionError(f'option file not found: {path}')
    try:
        with open(path) as f:
            opt = yaml.safe_load(f)
    except yaml.YAMLError as err:
        where = getattr(err, 'problem_mark', None)
        line = f' (line {where.line + 1}, column {where.column + 1})' if where else ''
        problem = getattr(err, 'problem', None) or str(err).splitlines()[0]
        raise OptionError(f'{path}{line}: invalid YAML: {problem}') from None
    except OSError as err:
        raise OptionError(f'cannot read option file {path}: {err.strerror}') from None
    if not isinstance(opt, dict):
        raise OptionError(f'{path}: expected a YAML mapping of options, got {type(opt).__name__}')
    return opt


def check_model_options(opt, path):
    """`opt` checked for what building a model needs (network_g with a registered type, an integer scale)."""
    if not isinstance(opt.get('network_g'), dict) or 'type' not in opt['network_g']:
        raise OptionError(f'{path}: needs a network_g mapping with a type (e.g. type: IGAN).')
    if opt['network_g']['type'] not in ARCH_REGISTRY:
        raise OptionError(f"{path}: network_g type {opt['network_g']['type']!r} is not in basicsr's ARCH_REGISTRY.")
    if not isinstance(opt.get('scale'), int):
        raise OptionError(f'{path}: needs an integer scale.')
    opt.setdefault('name', os.path.splitext(os.path.basename(path))[0])
    return opt


def load_options(path):
    """The option file at `path`, checked for what building its model needs."""
    return check_model_options(read_option_file(path), path)


def load_model_options(paths):
    """[(path, options)] of the option files that load, and every problem at once: files that do not, and
    files (or one file given twice) naming the same model, whose rows would be told apart by nothing."""
    problems, loaded, paths_of = [], [], {}
    for path in paths:
        try:
            opt = load_options(path)
        except OptionError as err:
            problems.append(str(err))
            continue
        loaded.append((path, opt))
        paths_of.setdefault(opt['name'], []).append(path)
    problems += [f"{' and '.join(same)} are {'both' if len(same) == 2 else 'all'} named {name!r}: give each model "
                 'its own name.' for name, same in paths_of.items() if len(same) > 1]
    return loaded, problems


def lmdb_keys(folder):
    with open(os.path.join(folder, 'meta_info.txt')) as f:
        return {line.split('.')[0] for line in f if line.strip()}


def _registered(registry, name, key, errors):
    if name is not None and name not in registry:
        errors.append(f"{key}: unknown type '{name}'; registered: {', '.join(sorted(n for n, _ in registry))}.")


def _missing(section, keys, prefix, errors):
    for key in keys:
        if key not in section:
            errors.append(f'{prefix}{key}: required key is missing.')


def _check_dataset(phase, ds, scale, is_train, errors):
    prefix = f'datasets.{phase}.'
    if not isinstance(ds, dict):
        errors.append(f'{prefix[:-1]}: expected a mapping of dataset options.')
        return
    _missing(ds, REQUIRED_DATASET, prefix, errors)
    if is_train and phase.split('_')[0] == 'train':
        _missing(ds, REQUIRED_TRAIN_DATASET, prefix, errors)
        gt_size = ds.get('gt_size')
        if isinstance(gt_size, int) and isinstance(scale, int) and gt_size % scale:
            errors.append(f'{prefix}gt_size: {gt_size} is not divisible by scale {scale} (LR patch would be '
                          f'{gt_size / scale:g} pixels); use a multiple of {scale}.')
    _registered(DATASET_REGISTRY, ds.get('type'), f'{prefix}type', errors)
    lmdb = (ds.get('io_backend') or {}).get('type') == 'lmdb'
    roots = {}
    for key in ('dataroot_gt', 'dataroot_lq', 'meta_info_file'):
        path = ds.get(key)
        if path is None:
            continue
        path = os.path.expanduser(path)
        if not os.path.exists(path):
            errors.append(f'{prefix}{key}: path does not exist: {path}')
        elif lmdb and key != 'meta_info_file':
            if not os.path.isfile(os.path.join(path, 'meta_info.txt')):
                errors.append(f'{prefix}{key}: LMDB {path} has no meta_info.txt; rebuild it with '
                              'scripts/data_preparation/prepare_div2k_lmdb.py.')
            else:
                roots[key] = path
    if len(roots) == 2:
        gt, lq = (lmdb_keys(roots[k]) for k in ('dataroot_gt', 'dataroot_lq'))
        if gt != lq:
            only = sorted(gt ^ lq)
            errors.append(f'{prefix}dataroot_lq: LMDB keys differ from dataroot_gt ({len(gt - lq)} only in gt, '
                          f'{len(lq - gt)} only in lq, e.g. {only[0]}); rebuild both from the same source.')


def check_options(opt, is_train, launcher='none'):
    """Every problem found, each as one line naming the key."""
    errors = []
    if launcher != 'none':
        try:
            choose_backend((opt.get('dist_params') or {}).get('backend', 'auto'), opt.get('num_gpu', 'auto'))
        except ValueError as err:
            errors.append(str(err))
    _missing(opt, REQUIRED_TOP + (REQUIRED_TRAIN if is_train else ()), '', errors)
    _registered(MODEL_REGISTRY, opt.get('model_type'), 'model_type', errors)
    scale = opt.get('scale')
    net = opt.get('network_g')
    if isinstance(net, dict):
        _missing(net, ('type', ), 'network_g.', errors)
        _registered(ARCH_REGISTRY, net.get('type'), 'network_g.type', errors)
        upscale = net.get('upscale')
        if upscale is not None and scale is not None and upscale != scale:
            errors.append(f'network_g.upscale: {upscale} differs from scale: {scale}; set both to the same factor.')
    for phase, ds in (opt.get('datasets') or {}).items():
        _check_dataset(phase, ds, scale, is_train, errors)
    for key in ('pretrain_network_g', 'resume_state'):
        path = (opt.get('path') or {}).get(key)
        if path is not None and not os.path.isfile(os.path.expanduser(path)):
            errors.append(f'path.{key}: file does not exist: {path}')
    train = opt.get('train')
    if is_train and isinstance(train, dict):
        _missing(train, REQUIRED_TRAIN_SECTION, 'train.', errors)
        optim = (train.get('optim_g') or {}).get('type')
        if optim is not None and optim not in OPTIMIZERS:
            errors.append(f"train.optim_g.type: unknown type '{optim}'; supported: {', '.join(OPTIMIZERS)}.")
        scheduler = (train.get('scheduler') or {}).get('type')
        if scheduler is not None and scheduler not in SCHEDULERS:
            errors.append(f"train.scheduler.type: unknown type '{scheduler}'; supported: {', '.join(SCHEDULERS)}.")
        for key, value in train.items():
            if key.endswith('_opt') and isinstance(value, dict):
                _registered(LOSS_REGISTRY, value.get('type'), f'train.{key}.type', errors)
    if is_train and isinstance(opt.get('logger'), dict):
        _missing(opt['logger'], REQUIRED_LOGGER, 'logger.', errors)
    for name, metric in ((opt.get('val') or {}).get('metrics') or {}).items():
        _registered(METRIC_REGISTRY, (metric or {}).get('type'), f'val.metrics.{name}.type', errors)
    if has_switches(opt.get('model_type')):
        errors += option_errors(opt)
    return errors
