"""One picture through an engine: grey replicated to RGB and back, small images padded to the network's minimum,
tiles when the image does not fit in memory, mixed precision with a float32 fallback, alpha upscaled apart."""
from dataclasses import dataclass
from functools import partial

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ..models.test_time import self_ensemble, tiled_forward
from .image_io import Picture
from .memory import bytes_per_pixel, default_budget, largest_tile, output_bytes

AUTO = 'auto'
NEVER = 0


@dataclass
class Switches:
    """tile: AUTO (whole image when it fits the budget, else the largest tile that does), NEVER (whole image
    always) or LR pixels per tile side. budget: bytes a run may use, None for memory.default_budget."""
    tile: int | str = AUTO
    tile_pad: int = 16
    self_ensemble: bool = False
    amp: torch.dtype | None = None
    budget: int | None = None


@dataclass
class Upscaled:
    picture: Picture
    tile: int | None  # None: the image ran whole
    passes: int  # network passes (tiles x ensemble members)
    recomputed: int  # of which gave non-finite mixed-precision output and were run again in float32


class Float32Fallback:
    """`forward` under autocast; a pass whose output is not finite (fp16 overflow: the "black image") is run
    again in float32 and counted."""

    def __init__(self, forward, amp, device):
        self.forward, self.amp, self.device = forward, amp, device
        self.passes = self.recomputed = 0

    def __call__(self, x):
        self.passes += 1
        if self.amp is None:
            return self.forward(x).float()
        with torch.autocast(self.device.type, dtype=self.amp):
            out = self.forward(x)
        if torch.isfinite(out).all():
            return out.float()
        self.recomputed += 1
        return self.forward(x).float()


def _pad_to(x, size):
    """`x` extended at the bottom and right to at least size x size: the network's smallest input."""
    h, w = x.shape[-2:]
    pad_h, pad_w = max(size - h, 0), max(size - w, 0)
    if not pad_h and not pad_w:
        return x
    # Reflection needs the image to be larger than the padding; a 1- or 2-pixel image repeats its edge instead.
    mode = 'reflect' if pad_h < h and pad_w < w else 'replicate'
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def _upscale_alpha(alpha, height, width):
    return np.clip(cv2.resize(alpha, (width, height), interpolation=cv2.INTER_CUBIC), 0, 1)


class Upscaler:
    """Upscales pictures with `engine` under `switches`; the memory per pixel is measured once, when needed."""

    def __init__(self, engine, switches):
        self.engine, self.switches = engine, switches
        self._per_pixel = None
        self._budget = switches.budget

    def budget(self):
        if self._budget is None:
            self._budget = default_budget(self.engine.device)
        return self._budget

    def per_pixel(self):
        if self._per_pixel is None:
            self._per_pixel = bytes_per_pixel(self.engine, self.switches.amp)
        return self._per_pixel

    def tile_for(self, height, width):
        """Tile side for an LR image of this size, or None to run it whole."""
        tile, s = self.switches.tile, self.switches
        if tile == NEVER:
            return None
        if tile != AUTO:
            return tile if max(height, width) > tile else None
        usable = self.budget() - height * width * output_bytes(self.engine.scale, s.self_ensemble)
        if height * width * self.per_pixel() <= usable:
            return None
        return largest_tile(self.per_pixel(), usable, s.tile_pad)

    def __call__(self, picture):
        engine, s = self.engine, self.switches
        height, width = picture.size
        x = torch.from_numpy(picture.color).permute(2, 0, 1)[None]
        x = _pad_to(x.expand(-1, 3, -1, -1).contiguous().to(engine.device), engine.min_size)
        tile = self.tile_for(*x.shape[-2:])
        net = Float32Fallback(engine.forward, s.amp, engine.device)
        run = net if tile is None else partial(tiled_forward, net, scale=engine.scale, tile=tile, tile_pad=s.tile_pad)
        with torch.no_grad():
            out = self_ensemble(run, x) if s.self_ensemble else run(x)
        out = out[0, :, :height * engine.scale, :width * engine.scale].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        if picture.gray:
            # The three channels saw the same grey input: their mean is the grey output, with no tint.
            out = out.mean(axis=2, keepdims=True)
        alpha = None
        if picture.alpha is not None:
            alpha = _upscale_alpha(picture.alpha, height * engine.scale, width * engine.scale)
        return Upscaled(Picture(np.ascontiguousarray(out), alpha, picture.depth), tile, net.passes, net.recomputed)
