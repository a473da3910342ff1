"""IGAN: Information-Growth Attention Network for Image Super-Resolution (Li et al., ACM MM 2021)."""
import torch
from basicsr.archs.arch_util import ResidualBlockNoBN, Upsample, make_layer
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn
from torch.nn import functional as F

# RGB mean of DIV2K in [0, 1], shared with basicsr's EDSR/RCAN so the released weights need no rescaling.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)

UPSCALES = (2, 3, 4, 8)
ATTENTIONS = ('growth', 'self', 'none')
CAGM_VARIANTS = ('pool', 'wavelet', 'mean')


def released_cagm(upscale):
    """The CAGM variant of the authors' released model for this scale ('wavelet' at x8, 'pool' otherwise)."""
    return 'wavelet' if upscale == 8 else 'pool'


def haar_filters():
    """One-level 2-D Haar analysis filters (LL, LH, HL, HH), shape (4, 1, 2, 2)."""
    return torch.tensor([[[.5, .5], [.5, .5]],
                         [[.5, -.5], [.5, -.5]],
                         [[.5, .5], [-.5, -.5]],
                         [[.5, -.5], [-.5, .5]]]).unsqueeze(1)


class PoolCAGM(nn.Module):
    """CAGM of the released x4 model: two PReLU convs around a 2x max-pool, then a global mean."""

    min_size = 2

    def __init__(self, num_feat):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat // 2, 3, 1, 1, bias=False)
        self.prelu1 = nn.PReLU()
        self.conv2 = nn.Conv2d(num_feat // 2, num_feat // 4, 3, 1, 1, bias=False)
        self.prelu2 = nn.PReLU()
        self.conv3 = nn.Conv2d(num_feat // 4, num_feat, 1, bias=False)

    def forward(self, x):
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2)
        x = self.conv3(self.prelu2(self.conv2(x)))
        return torch.sigmoid(x.mean((2, 3), keepdim=True))


class WaveletCAGM(nn.Module):
    """CAGM of the released x8 model: a fixed Haar transform, then PReLU convs and a global mean."""

    # Haar halves the size and the last 3x3 conv is unpadded: 6 -> 3 -> 3 -> 1.
    min_size = 6

    def __init__(self, num_feat):
        super().__init__()
        self.num_feat = num_feat
        self.register_buffer('haar', haar_filters().repeat(num_feat, 1, 1, 1), persistent=False)
        self.conv1 = nn.Conv2d(4 * num_feat, num_feat, 1, bias=False)
        self.prelu1 = nn.PReLU()
        self.conv2 = nn.Conv2d(num_feat, num_feat // 4, 3, 1, 1, bias=False)
        self.prelu2 = nn.PReLU()
        self.conv3 = nn.Conv2d(num_feat // 4, num_feat, 3, 1, 0, bias=False)

    def subbands(self, x):
        """Haar subbands in subband-major order: LL of every channel, then LH, HL, HH."""
        n = x.size(0)
        # The grouped conv emits channel-major subbands; the released weights expect subband-major order.
        x = F.conv2d(x, self.haar, stride=2, groups=self.num_feat)
        h, w = x.shape[-2:]
        return x.view(n, self.num_feat, 4, h, w).transpose(1, 2).reshape(n, 4 * self.num_feat, h, w)

    def forward(self, x):
        x = self.prelu2(self.conv2(self.prelu1(self.conv1(self.subbands(x)))))
        return torch.sigmoid(self.conv3(x).mean((2, 3), keepdim=True))


class MeanCAGM(nn.Module):
    """Ablation: RCAN's channel attention (global mean, then a 1x1 squeeze-excite pair, reduction 16)."""

    min_size = 1

    def __init__(self, num_feat, reduction=16):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat // reduction, 1)
        self.conv2 = nn.Conv2d(num_feat // reduction, num_feat, 1)

    def forward(self, x):
        x = F.relu(self.conv1(x.mean((2, 3), keepdim=True)), inplace=True)
        return torch.sigmoid(self.conv2(x))


_CAGM = {'pool': PoolCAGM, 'wavelet': WaveletCAGM, 'mean': MeanCAGM}


class InformationGrowthGroup(nn.Module):
    """Residual blocks whose output is reweighted by attention computed from what the group added."""

    def __init__(self, num_feat, num_block, cagm, attention):
        super().__init__()
        self.attention = attention
        self.blocks = make_layer(ResidualBlockNoBN, num_block, num_feat=num_feat, pytorch_init=True)
        if attention != 'none':
            self.cagm = _CAGM[cagm](num_feat)
        self.conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x):
        previous = x
        x = self.blocks(x)
        if self.attention == 'growth':
            x = x * self.cagm(x - previous)
        elif self.attention == 'self':
            x = x * self.cagm(x)
        return self.conv(x) + previous


@ARCH_REGISTRY.register()
class IGAN(nn.Module):
    """IGAN, the Information-Growth Attention Network (ACM MM 2021).

    Args:
        num_in_ch (int): Input channels. Default: 3.
        num_out_ch (int): Output channels. Default: 3.
        num_feat (int): Feature channels C, divisible by 4. Default: 64.
        num_group (int): Information-growth groups G. Default: 20.
        num_block (int): Residual blocks per group B. Default: 10.
        upscale (int): 2, 3, 4 or 8. Default: 4.
        cagm (str): Attention generator: 'pool' (released x4), 'wavelet' (released x8), 'mean' (RCAN-style
            ablation) or 'auto' (the released variant for `upscale`). Default: 'auto'.
        attention (str): What the CAGM sees: 'growth' (the paper: the group's increment), 'self' (the current
            features, as channel attention does) or 'none' (no reweighting). Default: 'growth'.
        img_range (float): Image range the network works in. Default: 255.
        rgb_mean (tuple[float]): Mean subtracted on entry, in [0, 1]. Default: DIV2K's.
    """

    def __init__(self,
                 num_in_ch=3,
                 num_out_ch=3,
                 num_feat=64,
                 num_group=20,
                 num_block=10,
                 upscale=4,
                 cagm='auto',
                 attention='growth',
                 img_range=255.,
                 rgb_mean=DIV2K_RGB_MEAN):
        super().__init__()
        if upscale not in UPSCALES:
            raise ValueError(f'IGAN: upscale={upscale!r} is not supported; use one of {UPSCALES}.')
        if num_feat <= 0 or num_feat % 4:
            raise ValueError(f'IGAN: num_feat={num_feat!r} must be a positive multiple of 4 '
                             '(the CAGM narrows to num_feat/2 and num_feat/4 channels).')
        if cagm == 'auto':
            cagm = released_cagm(upscale)
        if cagm not in CAGM_VARIANTS:
            raise ValueError(f"IGAN: cagm={cagm!r} is not one of {CAGM_VARIANTS + ('auto', )}.")
        if cagm == 'mean' and num_feat < 16:
            raise ValueError(f"IGAN: cagm='mean' squeezes channels by 16, so num_feat={num_feat} must be >= 16.")
        if attention not in ATTENTIONS:
            raise ValueError(f'IGAN: attention={attention!r} is not one of {ATTENTIONS}.')
        if len(rgb_mean) != num_in_ch or num_out_ch != num_in_ch:
            raise ValueError(f'IGAN: rgb_mean has {len(rgb_mean)} values for num_in_ch={num_in_ch} and '
                             f'num_out_ch={num_out_ch}; all three must agree.')
        self.num_feat, self.num_group, self.num_block = num_feat, num_group, num_block
        self.upscale = upscale
        self.cagm = cagm
        self.attention = attention
        self.img_range = img_range
        self.min_size = _CAGM[cagm].min_size if attention != 'none' else 1
        self.register_buffer('mean', torch.tensor(rgb_mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(
            *[InformationGrowthGroup(num_feat, num_block, cagm, attention) for _ in range(num_group)])
        self.upsample = Upsample(upscale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    def forward(self, x):
        if min(x.shape[-2:]) < self.min_size:
            raise ValueError(f'IGAN (cagm={self.cagm!r}) needs an LR input of at least {self.min_size}x'
                             f'{self.min_size} pixels, got {tuple(x.shape[-2:])}; use a larger patch or tile.')
        x = (x - self.mean) * self.img_range
        x = self.conv_first(x)
        x = self.body(x) + x
        x = self.conv_last(self.upsample(x))
        return x / self.img_range + self.mean
