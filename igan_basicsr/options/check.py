"""The whole check of an option file, run before `basicsr train|test` creates any folder: one line per problem,
naming the key, for what basicsr would otherwise fail on only after loading data or building models."""
import os

import torch
from basicsr.models.lr_scheduler import CosineAnnealingRestartLR, MultiStepRestartLR
from basicsr.utils.registry import LOSS_REGISTRY, METRIC_REGISTRY, MODEL_REGISTRY

from ..models import has_switches, switch_errors
from .arguments import argument_errors, network_errors
from .backend import choose_backend
from .data import Findings, dataset_findings
from .keys import MISSING, missing, unknown_keys, unregistered
from .numbers import normalise_numbers

# What basicsr 1.4.2's BaseModel can build (get_optimizer / setup_schedulers), with what it calls.
OPTIMIZERS = {'Adam': torch.optim.Adam}
SCHEDULERS = {'MultiStepLR': MultiStepRestartLR, 'MultiStepRestartLR': MultiStepRestartLR,
              'CosineAnnealingRestartLR': CosineAnnealingRestartLR}

REQUIRED_TOP = ('name', 'model_type', 'num_gpu', 'datasets', 'network_g', 'path')
REQUIRED_TRAIN = ('train', 'logger')
REQUIRED_TEST = ('val', )
REQUIRED_TRAIN_SECTION = ('optim_g', 'scheduler', 'total_iter')
REQUIRED_LOGGER = ('print_freq', 'save_checkpoint_freq')


def _train_errors(train):
    """The train section: required keys, optimizer, scheduler and losses as basicsr builds them."""
    errors = missing(train, REQUIRED_TRAIN_SECTION, 'train.')
    for key, builders in (('optim_g', OPTIMIZERS), ('scheduler', SCHEDULERS)):
        section = train.get(key) if isinstance(train.get(key), dict) else {}
        kind = section.get('type')
        if kind is not None and kind not in builders:
            errors.append(f"train.{key}.type: unknown type '{kind}'; supported: {', '.join(builders)}.")
        elif kind is not None:
            errors += argument_errors(f'train.{key}', section, builders[kind], passed=('params', 'optimizer'))
    for key, value in train.items():
        if str(key).endswith('_opt') and isinstance(value, dict):
            unknown = unregistered(LOSS_REGISTRY, value.get('type'), f'train.{key}.type')
            errors += unknown
            if not unknown and value.get('type') is not None:
                errors += argument_errors(f'train.{key}', value, LOSS_REGISTRY.get(value['type']))
    return errors


def _val_errors(val, is_train):
    """The val section: what the training loop or the test reads, and each metric as basicsr calls it."""
    errors = missing(val, ('val_freq', 'save_img') if is_train else ('save_img', ), 'val.')
    if not is_train and val.get('save_img'):
        errors += missing(val, ('suffix', ), 'val.')
    for name, metric in (val.get('metrics') or {}).items():
        metric = metric if isinstance(metric, dict) else {}
        unknown = unregistered(METRIC_REGISTRY, metric.get('type'), f'val.metrics.{name}.type')
        errors += unknown
        if not unknown and metric.get('type') is not None:
            errors += argument_errors(f'val.metrics.{name}', metric, METRIC_REGISTRY.get(metric['type']),
                                      passed=('img', 'img2'))
    return errors


def _launcher_errors(opt, launcher):
    if launcher == 'none':
        return []
    try:
        choose_backend((opt.get('dist_params') or {}).get('backend', 'auto'), opt.get('num_gpu', 'auto'))
    except ValueError as err:
        return [str(err)]
    return []


def _gpu_errors(opt, launcher):
    """num_gpu against the GPUs visible: basicsr stops on a missing driver only once it moves the network, and
    without a launcher it multiplies the batch by num_gpu and spreads it over the GPUs it sees."""
    num_gpu = opt.get('num_gpu')
    if not isinstance(num_gpu, int) or isinstance(num_gpu, bool) or num_gpu < 1:
        return []
    visible = torch.cuda.device_count()
    asks = f"num_gpu: {num_gpu} asks for {num_gpu} GPU{'s' if num_gpu > 1 else ''}"
    if not visible:
        return [f'{asks} and no CUDA GPU is visible here; set num_gpu: 0 to run on the CPU, or auto.']
    if launcher == 'none' and num_gpu > visible:
        return [f"{asks} and {visible} {'is' if visible == 1 else 'are'} visible here; set num_gpu: {visible}, or "
                'auto.']
    return []


def _path_errors(opt):
    errors = []
    for key in ('pretrain_network_g', 'resume_state'):
        path = (opt.get('path') or {}).get(key)
        if path is not None and not os.path.isfile(os.path.expanduser(path)):
            errors.append(f'path.{key}: file does not exist: {path}')
    return errors


def check_options(opt, is_train, launcher='none'):
    """The Findings of the whole file: every problem, each as one line naming the key, and the notes of the data
    checks. Numbers in `opt` are normalised in place (see numbers.py)."""
    errors = _launcher_errors(opt, launcher)
    errors += missing(opt, REQUIRED_TOP + (REQUIRED_TRAIN if is_train else REQUIRED_TEST))
    unknown = unknown_keys(opt)
    errors += unknown.errors
    errors += normalise_numbers(opt)
    errors += _gpu_errors(opt, launcher)
    errors += unregistered(MODEL_REGISTRY, opt.get('model_type'), 'model_type')
    errors += network_errors(opt)
    notes = []
    for phase, ds in (opt.get('datasets') or {}).items():
        found = dataset_findings(phase, ds, opt.get('scale'), is_train)
        errors += found.errors
        notes += found.notes
    errors += _path_errors(opt)
    if is_train and isinstance(opt.get('train'), dict):
        errors += _train_errors(opt['train'])
    if is_train and isinstance(opt.get('logger'), dict):
        errors += missing(opt['logger'], REQUIRED_LOGGER, 'logger.')
    if isinstance(opt.get('val'), dict):
        errors += _val_errors(opt['val'], is_train)
    if has_switches(opt.get('model_type')):
        errors += switch_errors(opt)
    # A key missing because it is misspelt is named once, by the line that names the misspelling.
    errors = [e for e in errors if not (e.endswith(MISSING) and e[:-len(MISSING)] in unknown.suggested)]
    return Findings(errors, notes)
