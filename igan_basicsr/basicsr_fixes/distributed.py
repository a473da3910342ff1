"""torch.distributed for basicsr 1.4.2's trainer: LOCAL_RANK device mapping, gloo on CPU, NCCL on CUDA.

basicsr maps GPUs by global RANK (wrong on every node but the first), divides by the GPU count (fails on
CPU), always uses NCCL under `--launcher pytorch` (ignoring `dist_params`), gives DDP CUDA device ids, and
validates through DDP on rank 0 alone.
"""
import datetime
import os
import subprocess

import basicsr.utils.options
import torch
import torch.distributed as dist
from basicsr.models.base_model import BaseModel
from basicsr.models.sr_model import SRModel
from torch.nn.parallel import DataParallel, DistributedDataParallel

from ..options import choose_backend
from .patching import replace

# Rank 0 validates while the other ranks wait in the next collective; torch's default (10 min for NCCL)
# is shorter than validating on a large benchmark, so wait longer unless the option file says otherwise.
DEFAULT_TIMEOUT_MINUTES = 120


def _slurm_environment(port):
    """Translate SLURM's variables into the ones init_process_group reads (env:// rendezvous)."""
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1')
    os.environ['MASTER_PORT'] = str(port or os.environ.get('MASTER_PORT', 29500))
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']


def make_init_dist(dist_params, num_gpu):
    """basicsr.utils.dist_util.init_dist for a run of an option file with `dist_params` and `num_gpu`: under
    --launcher pytorch basicsr's parse_options calls init_dist(launcher) without them."""

    def init_dist(launcher, backend=None, port=None, timeout_minutes=None, **kwargs):
        given = dict(backend=backend, port=port, timeout_minutes=timeout_minutes)
        join_process_group(launcher, {**dist_params, 'num_gpu': num_gpu,
                                      **{k: v for k, v in given.items() if v is not None}}, kwargs)

    return init_dist


def join_process_group(launcher, params, kwargs):
    """This process into the group (init_process_group) with the backend, port and timeout of `params`, on its
    GPU under NCCL."""
    if launcher == 'slurm':
        _slurm_environment(params.get('port'))
    elif launcher != 'pytorch':
        raise ValueError(f'Invalid launcher type: {launcher}')
    backend = choose_backend(params.get('backend', 'auto'), params.get('num_gpu', 'auto'))
    if backend == 'nccl':
        local_rank, visible = int(os.environ.get('LOCAL_RANK', 0)), torch.cuda.device_count()
        if local_rank >= visible:
            raise RuntimeError(f'LOCAL_RANK {local_rank} has no GPU: {visible} visible on this node. Start at most '
                               f'{visible} processes per node (--nproc_per_node), or train on the CPU with num_gpu: 0.')
        torch.cuda.set_device(local_rank)
    timeout = datetime.timedelta(minutes=params.get('timeout_minutes', DEFAULT_TIMEOUT_MINUTES))
    dist.init_process_group(backend=backend, timeout=timeout, **kwargs)


def model_to_device(self, net):
    """BaseModel.model_to_device without CUDA device ids for CPU processes."""
    net = net.to(self.device)
    if self.opt['dist']:
        device_ids = [torch.cuda.current_device()] if self.device.type == 'cuda' else None
        return DistributedDataParallel(
            net, device_ids=device_ids, find_unused_parameters=self.opt.get('find_unused_parameters', False))
    if self.opt['num_gpu'] > 1:
        return DataParallel(net)
    return net


def dist_validation(self, dataloader, current_iter, tb_logger, save_img):
    """SRModel.dist_validation through the bare network: on rank 0 alone, a DDP forward would start a buffer
    broadcast that the other ranks never join."""
    if self.opt['rank'] != 0:
        return
    wrapped = self.net_g
    self.net_g = self.get_bare_model(wrapped)
    try:
        self.nondist_validation(dataloader, current_iter, tb_logger, save_img)
    finally:
        self.net_g = wrapped


def shutdown():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def install(dist_params, num_gpu):
    replace(basicsr.utils.options, 'init_dist', lambda _: make_init_dist(dist_params, num_gpu))
    replace(BaseModel, 'model_to_device', lambda _: model_to_device)
    replace(SRModel, 'dist_validation', lambda _: dist_validation)
