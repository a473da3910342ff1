"""MATLAB bicubic upscaling as a network with no parameters: the baseline row super-resolution papers print,
measured by the comparison tools through the same test path and metrics as every trained model."""
import torch
from basicsr.utils.matlab_functions import imresize
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn


@ARCH_REGISTRY.register()
class MatlabBicubic(nn.Module):
    """imresize(lr, upscale) of basicsr.utils.matlab_functions (MATLAB's bicubic, the degradation of the
    benchmarks' LR images) on each image of the batch, in float32 on the CPU; the output goes back to the
    input's device and is left unrounded, as a network's would be."""

    def __init__(self, upscale=4):
        super().__init__()
        self.upscale = upscale

    def forward(self, x):
        out = torch.stack([imresize(image, self.upscale) for image in x.detach().float().cpu()])
        return out.to(x.device, x.dtype)
