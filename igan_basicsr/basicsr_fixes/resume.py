"""Resuming basicsr 1.4.2 training exactly, on CPU or CUDA, from the latest training state that is intact.

basicsr's resume calls torch.cuda.current_device() (fails on CPU), looks for states relative to the working
directory instead of the experiment's root, dies on a truncated state, restores no RNG state, restarts
the interrupted epoch from its first batch and can stop short of total_iter. These replacements fix each.
"""
import glob
import math
import os
import random
import sys

import basicsr.train
import numpy as np
import torch
import torch.distributed as dist
from basicsr.data.data_sampler import EnlargedSampler
from basicsr.models.base_model import BaseModel
from basicsr.utils import get_root_logger

from ..atomic import replacing
from ..checkpoints import CheckpointError, load_checkpoint
from ..models.saving import checkpoint_format, network_file
from .patching import replace


def _warn(message):
    # basicsr's root logger may not be set up yet when states are searched (it must be created after the
    # experiment folder is), so resume warnings go straight to stderr.
    print(f'WARNING: {message}', file=sys.stderr, flush=True)


def rng_state():
    seed_name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        'python': random.getstate(),
        'numpy': (seed_name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }


def set_rng_state(state):
    random.setstate(state['python'])
    seed_name, keys, pos, has_gauss, cached = state['numpy']
    np.random.set_state((seed_name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'])
    if state['cuda'] and torch.cuda.is_available() and len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state['cuda'])


def _atomic_save(obj, path):
    with replacing(path) as partial:
        torch.save(obj, partial)


def save_training_state(self, epoch, current_iter):
    """BaseModel.save_training_state plus every rank's RNG state and the fp16 grad scaler, written atomically by
    rank 0."""
    if current_iter == -1:
        return
    rngs = [rng_state()]
    if dist.is_available() and dist.is_initialized():
        rngs = [None] * dist.get_world_size()
        dist.all_gather_object(rngs, rng_state())
        if dist.get_rank() != 0:
            return
    state = {'epoch': epoch, 'iter': current_iter, 'optimizers': [o.state_dict() for o in self.optimizers],
             'schedulers': [s.state_dict() for s in self.schedulers], 'rng': rngs}
    scaler = getattr(self, 'grad_scaler', None)
    if scaler is not None and scaler.is_enabled():
        # fp16's loss scale is learnt over thousands of steps; restarting it at 2**16 costs skipped steps.
        state['grad_scaler'] = scaler.state_dict()
    _atomic_save(state, os.path.join(self.opt['path']['training_states'], f'{current_iter}.state'))


def make_resume_training(original):

    def resume_training(self, resume_state):
        """BaseModel.resume_training, then the grad scaler and this rank's RNG state as they were when the state
        was saved."""
        original(self, resume_state)
        scaler = getattr(self, 'grad_scaler', None)
        if scaler is not None and scaler.is_enabled() and 'grad_scaler' in resume_state:
            scaler.load_state_dict(resume_state['grad_scaler'])
        rngs = resume_state.get('rng')
        rank = self.opt['rank']
        if rngs and rank < len(rngs):
            set_rng_state(rngs[rank])
        else:
            get_root_logger().warning(f'Resume state holds no RNG state for rank {rank}: random crops and flips '
                                      'after resuming differ from an uninterrupted run.')

    return resume_training


def _networks(opt):
    """{network key: basicsr's file label} of the networks a resume loads (network_g -> net_g)."""
    ignored = opt['path'].get('ignore_resume_networks') or []
    return {key: f"net_{key[len('network_'):]}" for key in opt if key.startswith('network_') and key not in ignored}


def _network_files(opt, iteration):
    """Every file a resume at `iteration` loads networks from, in the option file's checkpoint format."""
    fmt = checkpoint_format(opt)
    keys = ['params'] + (['params_ema'] if fmt == 'safetensors' and (opt.get('train') or {}).get('ema_decay') else [])
    return [network_file(opt['path']['models'], label, iteration, fmt, key) for label in _networks(opt).values()
            for key in keys]


def resume_networks(opt, iteration):
    """basicsr.utils.check_resume in the option file's checkpoint format: the networks load from the files saved
    at `iteration` (pretrain paths ignored), with basicsr's params key (params_ema is loaded into the EMA network
    by the model itself)."""
    if any(opt['path'].get(f'pretrain_{key}') is not None for key in opt if key.startswith('network_')):
        print('pretrain_network path will be ignored during resuming.')
    for key, label in _networks(opt).items():
        opt['path'][f'pretrain_{key}'] = network_file(opt['path']['models'], label, iteration, checkpoint_format(opt))
        print(f"Set pretrain_{key} to {opt['path'][f'pretrain_{key}']}")
    for key in [k for k in opt['path'] if k.startswith('param_key') and opt['path'][k] == 'params_ema']:
        opt['path'][key] = 'params'
        print(f'Set {key} to params')


def _read_state(path, opt):
    """The training state at `path` once it and the network files saved with it are known to be readable."""
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not {'iter', 'epoch', 'optimizers', 'schedulers'} <= state.keys():
        raise CheckpointError(f'{path}: not a training state (no iter/epoch/optimizers/schedulers).')
    for net_path in _network_files(opt, state['iter']):
        load_checkpoint(net_path)
    return state


def latest_training_state(opt):
    """(path, state) of the newest intact state under the experiment's training_states, or (None, None)."""
    paths = glob.glob(os.path.join(opt['path']['training_states'], '*.state'))
    paths = sorted((p for p in paths if os.path.basename(p)[:-len('.state')].isdigit()),
                   key=lambda p: int(os.path.basename(p)[:-len('.state')]), reverse=True)
    for path in paths:
        try:
            return path, _read_state(path, opt)
        except CheckpointError as err:
            _warn(f'skipping training state {path}: {err}')
    return None, None


def load_resume_state(opt):
    """Drop-in for basicsr.train.load_resume_state."""
    if opt['auto_resume']:
        path, state = latest_training_state(opt)
        if path is None:
            return None
        opt['path']['resume_state'] = path
    elif opt['path'].get('resume_state'):
        state = _read_state(opt['path']['resume_state'], opt)
    else:
        return None
    resume_networks(opt, state['iter'])
    opt['resume_position'] = {'epoch': state['epoch'], 'iter': state['iter']}
    return state


class ResumableSampler(EnlargedSampler):
    """EnlargedSampler that can leave out the samples an interrupted epoch had already trained on."""

    skip = 0
    resume_epoch = None
    resume_skip = 0

    def set_epoch(self, epoch):
        # The skip is armed here, not when the sampler is built: basicsr's prefetcher opens an iterator of the
        # loader before the first set_epoch and throws it away, and with data-loader workers that iterator
        # already reads the sampler, which used up the skip and restarted the epoch from its first batch.
        super().set_epoch(epoch)
        if epoch == self.resume_epoch:
            self.skip, self.resume_epoch = self.resume_skip, None

    def __iter__(self):
        indices = list(super().__iter__())
        skip, self.skip = self.skip, 0
        return iter(indices[skip:])


def make_create_train_val_dataloader(original):

    def create_train_val_dataloader(opt, logger):
        train_loader, train_sampler, val_loaders, _, total_iters = original(opt, logger)
        # basicsr counts epochs as if the last partial batch were trained, but the loader drops it, so
        # training would stop short of total_iter; count the batches the loader really yields.
        total_epochs = math.ceil(total_iters / len(train_loader))
        position = opt.get('resume_position')
        if position and isinstance(train_sampler, ResumableSampler):
            done = position['iter'] - position['epoch'] * len(train_loader)
            if 0 < done:
                train_sampler.resume_epoch = position['epoch']
                train_sampler.resume_skip = done * train_loader.batch_size
                logger.info(f"Resuming inside epoch {position['epoch']}: its first {done} batches are skipped.")
        return train_loader, train_sampler, val_loaders, total_epochs, total_iters

    return create_train_val_dataloader


def install():
    replace(basicsr.train, 'load_resume_state', lambda _: load_resume_state)
    replace(basicsr.train, 'EnlargedSampler', lambda _: ResumableSampler)
    replace(basicsr.train, 'create_train_val_dataloader', make_create_train_val_dataloader)
    replace(BaseModel, 'save_training_state', lambda _: save_training_state)
    replace(BaseModel, 'resume_training', make_resume_training)
