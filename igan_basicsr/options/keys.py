"""The keys basicsr 1.4.2 reads. For SRModel and SwitchSRModel's family (IGANModel) every section in KNOWN_KEYS is
checked for keys basicsr does not read. Accepted although basicsr ignores them: the keys it writes itself over
whatever the file says (SET_BY_BASICSR), keys read only in some runs (dist_params without a launcher, val: suffix
while training, logger: wandb without a project, the train-only dataset keys of a validation set). Other model
types, dataset types other than PairedImageDataset/SingleImageDataset, and io_backend are not checked for unknown
keys."""
from typing import NamedTuple

from basicsr.models.sr_model import SRModel
from basicsr.utils.registry import MODEL_REGISTRY

from ..models import SWITCH_KEYS, has_switches
from ..suggest import closest
from .numbers import places

MISSING = ': required key is missing.'
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
# The dataset types whose keys are all in KNOWN_KEYS['datasets.*'].
KEYED_DATASETS = ('PairedImageDataset', 'SingleImageDataset')


def missing(section, keys, prefix=''):
    """A line per key of `keys` that `section` lacks, its name prefixed by `prefix`."""
    return [f'{prefix}{key}{MISSING}' for key in keys if key not in section]


def unregistered(registry, name, key):
    """The line for a type `name` (under `key`) that `registry` does not hold; none for a registered one or None."""
    if name is None or name in registry:
        return []
    return [f"{key}: unknown type '{name}'; registered: {', '.join(sorted(n for n, _ in registry))}."]


def _key_tables(model_type):
    """{section: keys allowed there} for `model_type`; {} where its keys are not all known here."""
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
    for where, parent, key in places(opt, section.split('.')):
        mapping = parent[key]
        if isinstance(mapping, dict) and (section != 'datasets.*' or mapping.get('type') in KEYED_DATASETS):
            yield where, mapping


def _unknown(where, key, section, tables):
    name = f'{where}.{key}' if where else str(key)
    close = closest(key, tables[section])
    if close:
        return f'{name}: unknown key; did you mean {close}?'
    homes = [s for s, keys in tables.items() if key in keys and s != section]
    if homes:
        return f"{name}: unknown key here; it goes under {homes[0].replace('*', '<phase>') or 'the top level'}."
    return f"{name}: unknown key; {where or 'the top level'} takes: {', '.join(sorted(map(str, tables[section])))}."


class UnknownKeys(NamedTuple):
    """A line per key basicsr does not read, and the dotted names of the known keys suggested for them."""
    errors: list
    suggested: set


def unknown_keys(opt):
    """The UnknownKeys of every checked section (see the module's doc)."""
    tables = _key_tables(opt.get('model_type'))
    unknown = [(where, key, section) for section in tables for where, mapping in _sections(opt, section)
               for key in mapping if key not in tables[section]]
    errors = [_unknown(where, key, section, tables) for where, key, section in unknown]
    suggested = {f"{where}{'.' if where else ''}{closest(key, tables[section])}" for where, key, section in unknown}
    return UnknownKeys(errors, suggested)

