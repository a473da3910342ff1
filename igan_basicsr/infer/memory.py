"""How much memory a network needs per LR pixel, how much the device can spare, and so the largest tile."""
import contextlib
import copy
import math
import os

import torch

# Share of the free memory a run may take. CPU: of the RAM available when the run starts, the rest left to the
# system and other programs (--memory-budget overrides). CUDA: of the free GPU memory, the rest for cuDNN's
# workspaces and the allocator's fragmentation.
CPU_FRACTION = 0.5
CUDA_FRACTION = 0.8
# Side of the LR square the memory is measured on: large enough that fixed costs do not dominate.
PROBE = 64
# The estimate without a GPU counts each layer's input and output only; what a network keeps alive around
# them (skip connections, the allocator's slack) is covered by this factor.
CPU_SLACK = 2.0
# Tiles below this many LR pixels a side are mostly context, and slower than they are worth.
MIN_TILE = 16


def available_ram():
    """Bytes of RAM available now (Linux: MemAvailable; elsewhere the physical memory)."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def default_budget(device):
    """Bytes a run may use on `device` by default."""
    if device.type == 'cuda':
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * CUDA_FRACTION)
    return int(available_ram() * CPU_FRACTION)


def _meta_copy(module):
    """A copy of `module` on the meta device: shapes without storage, so nothing is computed or copied.

    A copy rather than meta weights swapped in: some networks assign to themselves in forward (basicsr's EDSR
    casts its mean buffer), which would leave the original holding meta tensors.
    """
    memo = {id(t): torch.nn.Parameter(torch.empty_like(t, device='meta'), t.requires_grad)
            for t in module.parameters()}
    memo.update((id(t), torch.empty_like(t, device='meta')) for t in module.buffers())
    return copy.deepcopy(module, memo)


def _layer_bytes(module, probe):
    """Largest input + output of any layer of `module` on `probe`, run shape-only on the meta device."""
    meta = _meta_copy(module)
    largest = [0]

    def record(_, inputs, output):
        tensors = [t for t in (*inputs, output) if isinstance(t, torch.Tensor)]
        largest[0] = max(largest[0], sum(t.numel() * t.element_size() for t in tensors))

    for m in meta.modules():
        if not list(m.children()):
            m.register_forward_hook(record)
    meta(probe.to('meta'))
    return largest[0]


def bytes_per_pixel(engine, amp=None):
    """Memory one LR pixel costs `engine`'s network: measured on CUDA, estimated from layer sizes elsewhere."""
    if engine.bytes_per_pixel is not None:
        return engine.bytes_per_pixel
    side = max(PROBE, engine.min_size)
    probe = torch.rand(1, 3, side, side, device=engine.device)
    if engine.device.type != 'cuda':
        return CPU_SLACK * _layer_bytes(engine.module, probe) / side**2
    torch.cuda.synchronize(engine.device)
    torch.cuda.reset_peak_memory_stats(engine.device)
    base = torch.cuda.memory_allocated(engine.device)
    autocast = torch.autocast('cuda', dtype=amp) if amp else contextlib.nullcontext()
    with torch.no_grad(), autocast:
        engine.forward(probe)
    return (torch.cuda.max_memory_allocated(engine.device) - base) / side**2


def output_bytes(scale, ensemble):
    """Memory per LR pixel of the float32 RGB output held whole (twice for the self-ensemble's running sum)."""
    return 3 * scale**2 * 4 * (2 if ensemble else 1)


def largest_tile(per_pixel, budget, tile_pad):
    """Largest tile side (LR pixels, context excluded) whose padded square fits `budget`; at least MIN_TILE."""
    side = math.isqrt(max(int(budget // per_pixel), 0)) - 2 * tile_pad
    return max(side, MIN_TILE)
