"""Test-time inference that scales: overlapping tiles (bounded memory) and the x8 self-ensemble."""
import math

import torch


def _spans(size, tile):
    """Split range(size) into ceil(size / tile) nearly equal spans, so no edge tile is a sliver."""
    count = math.ceil(size / tile)
    bounds = [round(i * size / count) for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def tiled_forward(net, lq, scale, tile, tile_pad):
    """Run `net` on tiles of at most `tile` x `tile` LR pixels, each read with `tile_pad` pixels of context.

    Only the centre of each tile's output is kept, so memory is bounded by one padded tile. Networks with a
    finite receptive field give the whole-image result when tile_pad covers it; a network that pools over its
    whole input (IGAN's CAGM) sees less of the image per tile, so its output changes slightly.
    """
    h, w = lq.shape[-2:]
    out = None
    for top, bottom in _spans(h, tile):
        for left, right in _spans(w, tile):
            y0, x0 = max(top - tile_pad, 0), max(left - tile_pad, 0)
            y1, x1 = min(bottom + tile_pad, h), min(right + tile_pad, w)
            sr = net(lq[..., y0:y1, x0:x1])
            if out is None:
                out = sr.new_empty(*sr.shape[:-2], h * scale, w * scale)
            dy, dx = (top - y0) * scale, (left - x0) * scale
            out[..., top * scale:bottom * scale, left * scale:right * scale] = \
                sr[..., dy:dy + (bottom - top) * scale, dx:dx + (right - left) * scale]
    return out


def self_ensemble(net, lq):
    """Mean of `net` over the 8 flips/rotations of `lq`, each output mapped back (the EDSR '+' protocol)."""
    total = None
    for flip in (False, True):
        for turns in range(4):
            x = torch.rot90(lq.flip(-1) if flip else lq, turns, (-2, -1))
            y = torch.rot90(net(x), -turns, (-2, -1))
            y = y.flip(-1) if flip else y
            total = y.float() if total is None else total + y.float()
    return total / 8
