"""The data an option file names, checked before a run: paths, LMDBs whole, with the same keys and of the
option file's scale, every image of a validation or test folder decoded once; and test folders holding files
basicsr would stop on read through a list of their image pairs."""
import os
from typing import NamedTuple

from basicsr.utils.registry import DATASET_REGISTRY

from ..prepare.errors import PrepareError
from ..prepare.images import decoded_size, pair_list_file, paired_images, scale_problem
from ..prepare.lmdb_images import check_readable, read_meta_info
from .keys import missing, unregistered

REQUIRED_DATASET = ('name', 'type', 'io_backend')
REQUIRED_TRAIN_DATASET = ('gt_size', 'batch_size_per_gpu', 'num_worker_per_gpu', 'use_hflip', 'use_rot')


class Findings(NamedTuple):
    """A check's result: one line per problem, and one per thing done about files basicsr would stop on (the
    files of a test folder that are not images are skipped)."""
    errors: list
    notes: list = []


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

def _folder_findings(prefix, ds, scale, decode_all):
    """A paired folder dataset: every HR image with its LR one, decoded (all of them for validation and test sets,
    the first pair of a training set) and of the data's scale; files basicsr would stop on are noted."""
    gt, lq = (os.path.expanduser(ds[key]) for key in ('dataroot_gt', 'dataroot_lq'))
    try:
        pairs, left_out = paired_images(gt, lq, ds.get('filename_tmpl', '{}'))
    except PrepareError as err:
        return Findings([f'{prefix}dataroot_lq: {err}'])
    notes = []
    if left_out:
        more = f' and {len(left_out) - 5} more' if len(left_out) > 5 else ''
        notes.append(f"{prefix[:-1]}: skipping {', '.join(left_out[:5])}{more}: not images, or LR images without an HR "
                     'image.')
    if not pairs:
        return Findings([f'{prefix}dataroot_gt: no images in {gt}.'], notes)
    try:
        sizes = [(decoded_size(hr), decoded_size(lr)) for hr, lr in (pairs if decode_all else pairs[:1])]
    except PrepareError as err:
        return Findings([f'{prefix[:-1]}: {err}; replace it.'], notes)
    for (hr, lr), (hr_size, lr_size) in zip(pairs, sizes):
        errors = _size_errors(prefix, hr, hr_size, lr, lr_size, scale, ds.get('gt_size'))
        if errors:
            return Findings(errors, notes)
    return Findings([], notes)


def use_paired_images(ds):
    """Point a disk PairedImageDataset whose folders hold files basicsr would stop on (it reads every file of
    both folders) at a list of just its image pairs."""
    if _is_paired_folder(ds):
        pairs, left_out = paired_images(ds['dataroot_gt'], ds['dataroot_lq'], ds.get('filename_tmpl', '{}'))
        if left_out:
            ds['meta_info_file'] = pair_list_file(pairs)


def _phase_errors(prefix, phase, is_train):
    if is_train and phase != 'train' and phase.split('_')[0] != 'val':
        return [f'{prefix[:-1]}: basicsr trains with the phases train and val (val_1, val_2 ...); rename it.']
    return []


def _key_errors(prefix, ds, phase, scale, is_train):
    """The dataset's required keys, registered type and training patch, before any file is read."""
    errors = missing(ds, REQUIRED_DATASET, prefix)
    if is_train and phase.split('_')[0] == 'train':
        errors += missing(ds, REQUIRED_TRAIN_DATASET, prefix)
        gt_size = ds.get('gt_size')
        if isinstance(gt_size, int) and gt_size > 0 and isinstance(scale, int) and scale > 0 and gt_size % scale:
            errors.append(f'{prefix}gt_size: {gt_size} is not divisible by scale {scale} (LR patch would be '
                          f'{gt_size / scale:g} pixels); use a multiple of {scale}.')
    return errors + unregistered(DATASET_REGISTRY, ds.get('type'), f'{prefix}type')


def _is_lmdb(ds):
    return (ds.get('io_backend') or {}).get('type') == 'lmdb'


def _path_errors(prefix, ds):
    """A line per path that does not exist, or names an LMDB without meta_info.txt."""
    errors = []
    for key in ('dataroot_gt', 'dataroot_lq', 'meta_info_file'):
        path = ds.get(key)
        if path is None:
            continue
        path = os.path.expanduser(path)
        if not os.path.exists(path):
            errors.append(f'{prefix}{key}: path does not exist: {path}')
        elif _is_lmdb(ds) and key != 'meta_info_file' and not os.path.isfile(os.path.join(path, 'meta_info.txt')):
            errors.append(f'{prefix}{key}: LMDB {path} has no meta_info.txt; rebuild it with '
                          'scripts/data_preparation/prepare_div2k_lmdb.py.')
    return errors


def dataset_findings(phase, ds, scale, is_train):
    """The Findings of datasets.`phase`: its keys and paths, then (when those are sound) its LMDBs or folders."""
    prefix = f'datasets.{phase}.'
    if not isinstance(ds, dict):
        return Findings([f'{prefix[:-1]}: expected a mapping of dataset options.'])
    # A misnamed phase does not keep its files from being checked.
    named = _phase_errors(prefix, phase, is_train)
    errors = _key_errors(prefix, ds, phase, scale, is_train) + _path_errors(prefix, ds)
    if errors:
        return Findings(named + errors)
    if _is_lmdb(ds) and ds.get('dataroot_gt') and ds.get('dataroot_lq'):
        gt, lq = (os.path.expanduser(ds[key]) for key in ('dataroot_gt', 'dataroot_lq'))
        return Findings(named + _lmdb_errors(prefix, gt, lq, scale, ds.get('gt_size')))
    if _is_paired_folder(ds):
        found = _folder_findings(prefix, ds, scale, not (is_train and phase == 'train'))
        return Findings(named + found.errors, found.notes)
    return Findings(named)
