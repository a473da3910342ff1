import pytest
import torch

from igan_basicsr.archs.igan_arch import IGAN, released_cagm


def trainable(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def test_parameter_counts_match_the_released_models():
    assert trainable(IGAN(upscale=4)) == 16_290_027
    x8 = IGAN(upscale=8)
    assert x8.cagm == 'wavelet'
    assert trainable(x8) == 16_652_779
    # The Haar kernels are fixed buffers, not parameters, and not in the state_dict.
    assert sum(b.numel() for n, b in x8.named_buffers() if n.endswith('haar')) == 20 * 256 * 4
    assert not any(k.endswith('haar') for k in x8.state_dict())


@pytest.mark.parametrize('upscale', [2, 3, 4, 8])
def test_output_shape_and_released_cagm_for_every_scale(upscale):
    net = IGAN(num_feat=16, num_group=2, num_block=1, upscale=upscale).eval()
    x = torch.rand(2, 3, 12, 10)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 3, 12 * upscale, 10 * upscale)
    assert released_cagm(upscale) == ('wavelet' if upscale == 8 else 'pool')


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_feat=30), 'num_feat=30'),
    (dict(upscale=5), 'upscale=5'),
    (dict(cagm='haar'), "cagm='haar'"),
    (dict(attention='global'), "attention='global'"),
    (dict(num_feat=8, cagm='mean'), 'num_feat=8'),
    (dict(rgb_mean=(0.5, )), 'rgb_mean'),
])
def test_invalid_arguments_say_which_value(kwargs, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(')):
        IGAN(num_group=1, num_block=1, **kwargs)


@pytest.mark.parametrize('cagm, smallest', [('pool', 2), ('wavelet', 6)])
def test_too_small_inputs_are_refused_with_the_minimum(cagm, smallest):
    net = IGAN(num_feat=16, num_group=1, num_block=1, cagm=cagm).eval()
    with torch.no_grad():
        net(torch.rand(1, 3, smallest, smallest))
        with pytest.raises(ValueError, match=f'at least {smallest}x{smallest}'):
            net(torch.rand(1, 3, smallest - 1, smallest + 4))


def test_wavelet_cagm_orders_subbands_like_the_reference():
    cagm = IGAN(num_feat=4, num_group=1, num_block=1, cagm='wavelet').body[0].cagm
    x = torch.randn(2, 4, 6, 8)
    a, b, c, d = x[..., 0::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    expected = torch.cat([a + b + c + d, a - b + c - d, a + b - c - d, a - b - c + d], 1) / 2
    torch.testing.assert_close(cagm.subbands(x), expected)


@pytest.mark.parametrize('attention', ['growth', 'self', 'none'])
@pytest.mark.parametrize('cagm', ['pool', 'wavelet', 'mean'])
def test_ablations_train(attention, cagm):
    net = IGAN(num_feat=16, num_group=2, num_block=1, cagm=cagm, attention=attention)
    if attention == 'none':
        assert not any('cagm' in k for k in net.state_dict())
    out = net(torch.rand(2, 3, 8, 8))
    out.mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_growth_and_self_attention_differ():
    torch.manual_seed(0)
    growth = IGAN(num_feat=16, num_group=2, num_block=2, attention='growth').eval()
    selfattn = IGAN(num_feat=16, num_group=2, num_block=2, attention='self').eval()
    selfattn.load_state_dict(growth.state_dict())
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        assert (growth(x) - selfattn(x)).abs().max() > 1e-6
