"""The smallest fixes that let basicsr 1.4.2 run on the current stack; applied once, on import."""
import sys

import torchvision.transforms.functional


def _alias_functional_tensor():
    # torchvision 0.17 removed transforms.functional_tensor, which basicsr.data.degradations imports at load
    # time (so `import basicsr` fails); the function it needs, rgb_to_grayscale, lives in functional now.
    sys.modules.setdefault('torchvision.transforms.functional_tensor', torchvision.transforms.functional)


def apply():
    _alias_functional_tensor()
