"""Checks of an option file that basicsr would otherwise fail on only after loading data or building models.

`check_options` runs before `basicsr train|test` creates any folder and returns one line per problem, naming the
key: values (numbers of the right kind and range), names (unknown keys, with the closest known one), network_g's
arguments against the registered network's constructor, and the data (paths, LMDBs whole and of the right scale,
every benchmark image decoded once).

Numbers: YAML 1.1 reads `5e-4` and `1e4` as strings. Where basicsr computes with a value (the keys in NUMBERS, and
network_g's arguments whose default is a number) a string that Python reads as a number becomes that number, in the
checked options and, through basicsr_fixes/parsing.py, in the ones basicsr runs with. Strings elsewhere are left as
they are.

Keys: for SRModel and SwitchSRModel's family (IGANModel) every section in KNOWN_KEYS is checked for keys basicsr
1.4.2 does not read. Accepted although basicsr ignores them: the keys it writes itself over whatever the file says
(SET_BY_BASICSR), keys read only in some runs (dist_params without a launcher, val: suffix while training,
logger: wandb without a project, the train-only dataset keys of a validation set). Other model types, dataset types
other than PairedImageDataset/SingleImageDataset, and io_backend are not checked for unknown keys.
"""
import difflib
import inspect
import math
import os
from typing import NamedTuple

import torch
import yaml
from basicsr.models.lr_scheduler import CosineAnnealingRestartLR, MultiStepRestartLR
from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY

from .basicsr_fixes.distributed import choose_backend
from .models.switch_sr_model import has_switches, option_errors
from .prepare.errors import PrepareError
from .prepare.images import decoded_size, pair_list_file, paired_images, scale_problem
from .prepare.lmdb_images import check_readable, read_meta_info

# What basicsr 1.4.2's BaseModel can build (get_optimizer / setup_schedulers), with what it calls.
OPTIMIZERS = {'Adam': torch.optim.Adam}
SCHEDULERS = {'MultiStepLR': MultiStepRestartLR, 'MultiStepRestartLR': MultiStepRestartLR,
              'CosineAnnealingRestartLR': CosineAnnealingRestartLR}

MISSING = ': required key is missing.'
REQUIRED_TOP = ('name', 'model_type', 'num_gpu', 'datasets', 'network_g', 'path')
REQUIRED_TRAIN = ('train', 'logger')
REQUIRED_TEST = ('val', )
REQUIRED_TRAIN_SECTION = ('optim_g', 'scheduler', 'total_iter')
REQUIRED_LOGGER = ('print_freq', 'save_checkpoint_freq')
REQUIRED_DATASET = ('name', 'type', 'io_backend')
REQUIRED_TRAIN_DATASET = ('gt_size', 'batch_size_per_gpu', 'num_worker_per_gpu', 'use_hflip', 'use_rot')

# The keys basicsr 1.4.2's train/test pipelines, SRModel, build_dataloader and its image datasets read, per
# section ('' is the top level, '*' any dataset phase).
KNOWN_KEYS = {
    '': ('name', 'model_type', 'scale', 'num_gpu', 'manual_seed', 'datasets', 'network_g', 'path', 'train', 'val',
         'logger', 'dist_params', 'find_unused_parameters'),
    'path': ('pretrain_network_g', 'strict_load_g', 'param_key_g', 'resume_state', 'ignore_resume_networks'),
    'train': ('ema_decay', 'optim_g', 'scheduler', 'total_iter', 'warmup_iter', 'pixel_opt', 'perceptual_opt'),
    'val': ('val_freq', 'save_img', 'suffix', 'pbar', 'metrics'),
    'logger': ('print_freq', 'save_checkpoint_freq', 'use_tb_logger', 'wandb'),
    'logger.wandb': ('project', 'resume_id'),
    'dist_params': ('backend', 'port', 'timeout_minutes'),
    'datasets.*': ('name', 'type', 'dataroot_gt', 'dataroot_lq', 'meta_info_file', 'filename_tmpl', 'io_backend',
                   'gt_size', 'use_hflip', 'use_rot', 'mean', 'std', 'color', 'batch_size_per_gpu',
                   'num_worker_per_gpu', 'use_shuffle', 'dataset_enlarge_ratio', 'pin_memory', 'persistent_workers',
                   'prefetch_mode', 'num_prefetch_queue'),
}
# Written by basicsr over whatever the option file says.
SET_BY_BASICSR = {
    '': ('is_train', 'dist', 'rank', 'world_size', 'auto_resume', 'root_path'),
    'path': ('experiments_root', 'models', 'training_states', 'log', 'visualization', 'results_root'),
    'datasets.*': ('phase', 'scale'),
}
# SwitchSRModel's switches (their values are checked by models/switch_sr_model.option_errors).
SWITCH_KEYS = {'': ('channels_last', 'compile'), 'train': ('amp', ),
               'val': ('amp', 'tf32', 'tile', 'tile_pad', 'self_ensemble')}
# The dataset types whose keys are all in KNOWN_KEYS['datasets.*'].
KEYED_DATASETS = ('PairedImageDataset', 'SingleImageDataset')


class Number(NamedTuple):
    """A value basicsr computes with: an integer (1e4 and 5000.0 read as 10000 and 5000) or any number, within
    [low, high], or a list of such; `words` are values also accepted as they are."""
    whole: bool
    low: float = None
    high: float = None
    listed: bool = False
    words: tuple = ()
    from_text: bool = True  # False: read before basicsr_fixes/parsing.py can convert it, so a string fails

    def __str__(self):
        kind = 'integer' if self.whole else 'number'
        bounds = (f' between {self.low:g} and {self.high:g}' if self.high is not None
                  else f' >= {self.low:g}' if self.low is not None else '')
        text = f'a list of {kind}s{bounds}' if self.listed else f"{'an' if self.whole else 'a'} {kind}{bounds}"
        return text + ''.join(f' or {word!r}' for word in self.words)


INT, NUM = True, False
NUMBERS = {
    'scale': Number(INT, 1),
    'num_gpu': Number(INT, 0, words=('auto', )),
    'manual_seed': Number(INT, 0, words=(None, ), from_text=False),  # None: basicsr draws one
    'datasets.*.scale': Number(INT, 1),  # copied from scale by basicsr
    'datasets.*.gt_size': Number(INT, 1),
    'datasets.*.batch_size_per_gpu': Number(INT, 1),
    'datasets.*.num_worker_per_gpu': Number(INT, 0),
    'datasets.*.dataset_enlarge_ratio': Number(INT, 1),
    'datasets.*.num_prefetch_queue': Number(INT, 1),
    'train.total_iter': Number(INT, 1),
    'train.warmup_iter': Number(INT, -1),
    'train.ema_decay': Number(NUM, 0, 1),
    'train.optim_g.lr': Number(NUM, 0),
    'train.optim_g.weight_decay': Number(NUM, 0),
    'train.optim_g.eps': Number(NUM, 0),
    'train.optim_g.betas': Number(NUM, 0, 1, listed=True),
    'train.scheduler.milestones': Number(INT, 0, listed=True),
    'train.scheduler.gamma': Number(NUM, 0),
    'train.scheduler.periods': Number(INT, 1, listed=True),
    'train.scheduler.restarts': Number(INT, 0, listed=True),
    'train.scheduler.restart_weights': Number(NUM, 0, listed=True),
    'train.scheduler.eta_min': Number(NUM, 0),
    'train.*.loss_weight': Number(NUM, 0),
    'val.val_freq': Number(INT, 1),
    'val.metrics.*.crop_border': Number(INT, 0),
    'logger.print_freq': Number(INT, 1),
    'logger.save_checkpoint_freq': Number(INT, 1),
    'dist_params.port': Number(INT, 1, 65535),
    'dist_params.timeout_minutes': Number(NUM, 0),
}


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
        raise OptionError(f"{path}: network_g type {opt['network_g']['type']!r} is not in basicsr's ARCH_REGISTRY "
                          "(a plugin's network: install the plugin, or name the module that registers it with "
                          '--import MODULE).')
    errors = normalise_numbers(opt)
    if errors:
        raise OptionError(f'{path}: {errors[0]}')
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


# --- numbers ---------------------------------------------------------------------------------------------------

def _places(node, keys, where=''):
    """(dotted name, mapping, key) of every value at the path `keys` under `node`; '*' stands for any key."""
    if not isinstance(node, dict) or not keys:
        return
    head, rest = keys[0], keys[1:]
    for key in (list(node) if head == '*' else [head] if head in node else []):
        here = f'{where}.{key}' if where else str(key)
        if rest:
            yield from _places(node[key], rest, here)
        else:
            yield here, node, key


def _parse(text):
    """`text` as the int or finite float Python reads in it, else unchanged."""
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if math.isfinite(value) else text
    return text


def _number(value, spec):
    """(value as basicsr needs it, whether it fits `spec`)."""
    if spec.listed:
        if not isinstance(value, (list, tuple)):
            return value, False
        items = [_number(item, spec._replace(listed=False)) for item in value]
        return [item for item, _ in items], all(ok for _, ok in items)
    if any(value is word or value == word for word in spec.words):
        return value, True
    value = _parse(value) if isinstance(value, str) and spec.from_text else value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return value, False
    if spec.whole:
        if value != int(value):
            return value, False
        value = int(value)
    return value, (spec.low is None or value >= spec.low) and (spec.high is None or value <= spec.high)


def _normalise_network(net):
    """network_g's string values read as numbers where the registered constructor's default is a number."""
    if not isinstance(net, dict) or net.get('type') not in ARCH_REGISTRY:
        return
    params = inspect.signature(ARCH_REGISTRY.get(net['type'])).parameters
    for key, value in net.items():
        default = params[key].default if key in params else None
        number = _parse(value) if isinstance(value, str) else None
        if type(default) in (int, float) and isinstance(number, (int, float)):
            whole = type(default) is int and float(number).is_integer()
            net[key] = int(number) if whole else float(number)


def normalise_numbers(opt):
    """Every value basicsr computes with, as the number it needs, in `opt` itself (see the module's doc); one line
    per value that is no number of the kind and range basicsr needs."""
    errors = []
    for pattern, spec in NUMBERS.items():
        for where, section, key in _places(opt, pattern.split('.')):
            value, ok = _number(section[key], spec)
            if ok:
                section[key] = value
            else:
                errors.append(f'{where}: {section[key]!r} is not {spec}.')
    _normalise_network(opt.get('network_g'))
    return errors


# --- names -----------------------------------------------------------------------------------------------------

def _key_tables(model_type):
    """{section: keys allowed there} for `model_type`; {} where its keys are not all known here."""
    from basicsr.models.sr_model import SRModel
    model = MODEL_REGISTRY.get(model_type) if model_type in MODEL_REGISTRY else None
    switches = has_switches(model_type)
    if model is not SRModel and not switches:
        return {}
    tables = {section: set(keys) for section, keys in KNOWN_KEYS.items()}
    for extra in (SET_BY_BASICSR, SWITCH_KEYS if switches else {}):
        for section, keys in extra.items():
            tables[section] |= set(keys)
    return tables


def _sections(opt, section):
    """(dotted name, mapping) of every mapping at `section` ('' for the top level) with keys to check."""
    if not section:
        yield '', opt
        return
    for where, parent, key in _places(opt, section.split('.')):
        mapping = parent[key]
        if isinstance(mapping, dict) and (section != 'datasets.*' or mapping.get('type') in KEYED_DATASETS):
            yield where, mapping


def closest(name, names):
    """The one of `names` `name` is most likely a misspelling of, or None."""
    close = difflib.get_close_matches(str(name), [str(n) for n in names], n=1)
    return close[0] if close else None


def _unknown(where, key, section, tables):
    name = f'{where}.{key}' if where else str(key)
    close = closest(key, tables[section])
    if close:
        return f'{name}: unknown key; did you mean {close}?'
    homes = [s for s, keys in tables.items() if key in keys and s != section]
    if homes:
        return f"{name}: unknown key here; it goes under {homes[0].replace('*', '<phase>') or 'the top level'}."
    return f"{name}: unknown key; {where or 'the top level'} takes: {', '.join(sorted(map(str, tables[section])))}."


def unknown_key_errors(opt):
    """One line per key of a checked section (see the module's doc) that basicsr does not read, and the dotted
    names of the known keys suggested for them."""
    tables = _key_tables(opt.get('model_type'))
    unknown = [(where, key, section) for section in tables for where, mapping in _sections(opt, section)
               for key in mapping if key not in tables[section]]
    errors = [_unknown(where, key, section, tables) for where, key, section in unknown]
    suggested = {f"{where}{'.' if where else ''}{closest(key, tables[section])}" for where, key, section in unknown}
    return errors, suggested


def argument_errors(where, section, target, passed=()):
    """One line per key of `section` that `target` (the class or function basicsr calls with it) has no argument
    for, and per argument it needs that the section lacks; `passed` are the arguments basicsr gives itself."""
    signature = inspect.signature(target).parameters
    params = {name: p for name, p in signature.items()
              if name not in passed and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    errors = [f'{where}.{name}{MISSING}' for name, p in params.items()
              if p.default is p.empty and name not in section]
    if any(p.kind == p.VAR_KEYWORD for p in signature.values()):
        return errors
    target_name = getattr(target, '__name__', repr(target))
    for key in section:
        if key != 'type' and key not in params:
            close = closest(key, params)
            hint = f'; did you mean {close}?' if close else '.'
            errors.append(f"{where}.{key}: {target_name} has no argument {key}{hint} It takes: {', '.join(params)}.")
    return errors


def _network_errors(opt):
    """network_g's type, upscale, argument names and, by building it on the meta device (no memory, no weights),
    the constructor's own complaints about its values."""
    net = opt.get('network_g')
    if not isinstance(net, dict):
        return []
    errors = []
    _missing(net, ('type', ), 'network_g.', errors)
    _registered(ARCH_REGISTRY, net.get('type'), 'network_g.type', errors)
    upscale, scale = net.get('upscale'), opt.get('scale')
    if upscale is not None and scale is not None and upscale != scale:
        errors.append(f'network_g.upscale: {upscale} differs from scale: {scale}; set both to the same factor.')
    if errors or net.get('type') is None:
        return errors
    arch = ARCH_REGISTRY.get(net['type'])
    errors = argument_errors('network_g', net, arch)
    if not errors:
        try:
            with torch.device('meta'):
                arch(**{k: v for k, v in net.items() if k != 'type'})
        except (ValueError, TypeError, AssertionError) as err:
            errors.append(f'network_g: {_first_line(err)}')
        except Exception:  # noqa: BLE001 - a network that cannot be built without memory is checked when it is built
            pass
    return errors


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# --- data ------------------------------------------------------------------------------------------------------

def _size_errors(prefix, hr, hr_shape, lr, lr_shape, scale, gt_size):
    """The data's scale against `scale`, and the training patch against the HR images, from one pair's sizes."""
    if not isinstance(scale, int) or hr_shape is None or lr_shape is None:
        return []
    problem = scale_problem(hr, hr_shape[:2], lr, lr_shape[:2], scale)
    if problem:
        return [f'{prefix}dataroot_lq: {problem}.']
    if isinstance(gt_size, int) and gt_size > min(hr_shape[:2]):
        return [f'{prefix}gt_size: {gt_size} is larger than the HR images of {hr} ({hr_shape[1]}x{hr_shape[0]}); '
                f'use at most {min(hr_shape[:2])}.']
    return []


def _lmdb_errors(prefix, gt, lq, scale, gt_size):
    """The two LMDBs of a paired dataset: the same keys, each whole, and of the data's scale (by the shapes
    meta_info.txt gives; basicsr's key for a line is the text before its first dot)."""
    gt_meta, lq_meta = read_meta_info(gt), read_meta_info(lq)
    gt_keys, lq_keys = {k for k, _ in gt_meta}, {k for k, _ in lq_meta}
    if gt_keys != lq_keys:
        only = sorted(gt_keys ^ lq_keys)
        return [f'{prefix}dataroot_lq: LMDB keys differ from dataroot_gt ({len(gt_keys - lq_keys)} only in gt, '
                f'{len(lq_keys - gt_keys)} only in lq, e.g. {only[0]}); rebuild both from the same source.']
    errors = []
    for key, folder in (('dataroot_gt', gt), ('dataroot_lq', lq)):
        try:
            check_readable(folder)
        except PrepareError as err:
            errors.append(f'{prefix}{key}: {err}.')
    if errors or not gt_meta:
        return errors
    key, hr_shape = gt_meta[0]
    return _size_errors(prefix, gt, hr_shape, lq, dict(lq_meta)[key], scale, gt_size)


def _is_paired_folder(ds):
    return (ds.get('type') == 'PairedImageDataset' and (ds.get('io_backend') or {}).get('type') == 'disk'
            and ds.get('meta_info_file') is None and ds.get('dataroot_gt') and ds.get('dataroot_lq'))


def _folder_errors(prefix, ds, scale, decode_all, notes):
    """A paired folder dataset: every HR image with its LR one, decoded (all of them for validation and test sets,
    the first pair of a training set) and of the data's scale; files basicsr would stop on are noted."""
    gt, lq = (os.path.expanduser(ds[key]) for key in ('dataroot_gt', 'dataroot_lq'))
    try:
        pairs, left_out = paired_images(gt, lq, ds.get('filename_tmpl', '{}'))
    except PrepareError as err:
        return [f'{prefix}dataroot_lq: {err}']
    if left_out:
        more = f' and {len(left_out) - 5} more' if len(left_out) > 5 else ''
        notes.append(f"{prefix[:-1]}: skipping {', '.join(left_out[:5])}{more}: not images, or LR images without an HR "
                     'image.')
    if not pairs:
        return [f'{prefix}dataroot_gt: no images in {gt}.']
    try:
        sizes = [(decoded_size(hr), decoded_size(lr)) for hr, lr in (pairs if decode_all else pairs[:1])]
    except PrepareError as err:
        return [f'{prefix[:-1]}: {err}; replace it.']
    for (hr, lr), (hr_size, lr_size) in zip(pairs, sizes):
        errors = _size_errors(prefix, hr, hr_size, lr, lr_size, scale, ds.get('gt_size'))
        if errors:
            return errors
    return []


def use_paired_images(ds):
    """Point a disk PairedImageDataset whose folders hold files basicsr would stop on (it reads every file of
    both folders) at a list of just its image pairs."""
    if _is_paired_folder(ds):
        pairs, left_out = paired_images(ds['dataroot_gt'], ds['dataroot_lq'], ds.get('filename_tmpl', '{}'))
        if left_out:
            ds['meta_info_file'] = pair_list_file(pairs)


def _registered(registry, name, key, errors):
    if name is not None and name not in registry:
        errors.append(f"{key}: unknown type '{name}'; registered: {', '.join(sorted(n for n, _ in registry))}.")


def _missing(section, keys, prefix, errors):
    errors += [f'{prefix}{key}{MISSING}' for key in keys if key not in section]


def _check_dataset(phase, ds, scale, is_train, errors, notes):
    prefix = f'datasets.{phase}.'
    if not isinstance(ds, dict):
        errors.append(f'{prefix[:-1]}: expected a mapping of dataset options.')
        return
    if is_train and phase != 'train' and phase.split('_')[0] != 'val':
        errors.append(f'{prefix[:-1]}: basicsr trains with the phases train and val (val_1, val_2 ...); rename it.')
    count = len(errors)
    _missing(ds, REQUIRED_DATASET, prefix, errors)
    if is_train and phase.split('_')[0] == 'train':
        _missing(ds, REQUIRED_TRAIN_DATASET, prefix, errors)
        gt_size = ds.get('gt_size')
        if isinstance(gt_size, int) and gt_size > 0 and isinstance(scale, int) and scale > 0 and gt_size % scale:
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
    if len(errors) > count:
        return
    if len(roots) == 2:
        errors += _lmdb_errors(prefix, roots['dataroot_gt'], roots['dataroot_lq'], scale, ds.get('gt_size'))
    elif _is_paired_folder(ds):
        errors += _folder_errors(prefix, ds, scale, not (is_train and phase == 'train'), notes)


def select_test_sets(opt, names):
    """opt's datasets cut to the test sets named `names` (`basicsr test --only NAME`); one line per name that none
    of them has."""
    datasets = opt.get('datasets') or {}
    have = [ds.get('name') for ds in datasets.values() if isinstance(ds, dict)]
    errors = []
    for name in names:
        if name not in have:
            close = closest(name, have)
            hint = f'did you mean {close}?' if close else f"it has {', '.join(map(str, have))}."
            errors.append(f'--only {name}: the option file has no test set named {name}; {hint}')
    opt['datasets'] = {phase: ds for phase, ds in datasets.items() if isinstance(ds, dict) and ds.get('name') in names}
    return errors


# --- the whole file --------------------------------------------------------------------------------------------

def _train_errors(train):
    """The train section: required keys, optimizer, scheduler and losses as basicsr builds them."""
    errors = []
    _missing(train, REQUIRED_TRAIN_SECTION, 'train.', errors)
    for key, builders in (('optim_g', OPTIMIZERS), ('scheduler', SCHEDULERS)):
        section = train.get(key) if isinstance(train.get(key), dict) else {}
        kind = section.get('type')
        if kind is not None and kind not in builders:
            errors.append(f"train.{key}.type: unknown type '{kind}'; supported: {', '.join(builders)}.")
        elif kind is not None:
            errors += argument_errors(f'train.{key}', section, builders[kind], passed=('params', 'optimizer'))
    for key, value in train.items():
        if str(key).endswith('_opt') and isinstance(value, dict):
            count = len(errors)
            _registered(LOSS_REGISTRY, value.get('type'), f'train.{key}.type', errors)
            if len(errors) == count and value.get('type') is not None:
                errors += argument_errors(f'train.{key}', value, LOSS_REGISTRY.get(value['type']))
    return errors


def _val_errors(val, is_train):
    """The val section: what the training loop or the test reads, and each metric as basicsr calls it."""
    errors = []
    _missing(val, ('val_freq', 'save_img') if is_train else ('save_img', ), 'val.', errors)
    if not is_train and val.get('save_img'):
        _missing(val, ('suffix', ), 'val.', errors)
    for name, metric in (val.get('metrics') or {}).items():
        metric = metric if isinstance(metric, dict) else {}
        count = len(errors)
        _registered(METRIC_REGISTRY, metric.get('type'), f'val.metrics.{name}.type', errors)
        if len(errors) == count and metric.get('type') is not None:
            errors += argument_errors(f'val.metrics.{name}', metric, METRIC_REGISTRY.get(metric['type']),
                                      passed=('img', 'img2'))
    return errors


def check_options(opt, is_train, launcher='none', notes=None):
    """Every problem found, each as one line naming the key; `notes` (a list) gets a line per thing done about
    files basicsr would stop on (files in a test folder that are not images are skipped). Numbers in `opt` are
    normalised in place (see the module's doc)."""
    notes = [] if notes is None else notes
    errors = []
    if launcher != 'none':
        try:
            choose_backend((opt.get('dist_params') or {}).get('backend', 'auto'), opt.get('num_gpu', 'auto'))
        except ValueError as err:
            errors.append(str(err))
    _missing(opt, REQUIRED_TOP + (REQUIRED_TRAIN if is_train else REQUIRED_TEST), '', errors)
    unknown, suggested = unknown_key_errors(opt)
    errors += unknown
    errors += normalise_numbers(opt)
    _registered(MODEL_REGISTRY, opt.get('model_type'), 'model_type', errors)
    errors += _network_errors(opt)
    for phase, ds in (opt.get('datasets') or {}).items():
        _check_dataset(phase, ds, opt.get('scale'), is_train, errors, notes)
    for key in ('pretrain_network_g', 'resume_state'):
        path = (opt.get('path') or {}).get(key)
        if path is not None and not os.path.isfile(os.path.expanduser(path)):
            errors.append(f'path.{key}: file does not exist: {path}')
    if is_train and isinstance(opt.get('train'), dict):
        errors += _train_errors(opt['train'])
    if is_train and isinstance(opt.get('logger'), dict):
        _missing(opt['logger'], REQUIRED_LOGGER, 'logger.', errors)
    if isinstance(opt.get('val'), dict):
        errors += _val_errors(opt['val'], is_train)
    if has_switches(opt.get('model_type')):
        errors += option_errors(opt)
    # A key missing because it is misspelt is named once, by the line that names the misspelling.
    return [e for e in errors if not (e.endswith(MISSING) and e[:-len(MISSING)] in suggested)]
