"""Which torch.distributed backend a run of an option file uses: checked before the run, used by the fixed
init_dist when the processes start."""
import torch

BACKENDS = ('auto', 'nccl', 'gloo')


def choose_backend(backend='auto', num_gpu='auto'):
    """NCCL where the processes train on GPUs; gloo where none is visible or the option file keeps the model on
    the CPU (`num_gpu: 0`: NCCL cannot reduce CPU tensors)."""
    if backend not in BACKENDS:
        raise ValueError(f"dist_params.backend: {backend!r} is not one of {BACKENDS}.")
    if backend == 'auto':
        return 'nccl' if torch.cuda.is_available() and num_gpu != 0 else 'gloo'
    if backend == 'nccl' and not torch.cuda.is_available():
        raise ValueError("dist_params.backend: 'nccl' needs CUDA GPUs and none is visible; use 'gloo' or 'auto'.")
    if backend == 'nccl' and num_gpu == 0:
        raise ValueError("dist_params.backend: 'nccl' needs the model on GPUs but num_gpu is 0; use 'gloo' or "
                         "'auto', or set num_gpu: auto.")
    return backend
