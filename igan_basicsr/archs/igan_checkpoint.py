"""IGAN's checkpoints: its sizes read off a state_dict's keys and shapes, in the authors' released layout or in
ours, and the released layout mapped onto our arch."""
import re

import torch

from ..checkpoints import CheckpointError, check_state_dict, extract_state_dict, listing, load_checkpoint
from .igan_arch import DIV2K_RGB_MEAN, IGAN, haar_filters

# Tensors the reference network creates but never uses in forward; dropped by name.
UNUSED_KEYS = re.compile(r'^(gamma|body\.\d+\.gamma|conv_last\.(weight|bias)|iia\.Capattention\.\d+\.weight)$')
# Fixed mean shift and Haar filters: constants of our arch, checked against the file and then dropped.
MEAN_SHIFT_KEYS = re.compile(r'^(sub|add)_mean\.(weight|bias)$')
HAAR_KEY = re.compile(r'^body\.\d+\.iga\.wavedec\.conv\.weight$')

# Released CAGM layer indices (nn.Sequential positions) -> our layer names.
_POOL_LAYERS = {'0': 'conv1', '1': 'prelu1', '3': 'conv2', '4': 'prelu2', '5': 'conv3'}
_WAVELET_LAYERS = {'0': 'conv1', '1': 'prelu1', '2': 'conv2', '3': 'prelu2', '4': 'conv3'}
_RENAMES = (
    (re.compile(r'^head\.0\.(weight|bias)$'), lambda m: f'conv_first.{m[1]}'),
    (re.compile(r'^body\.(\d+)\.rbs\.(\d+)\.conv_first\.([02])\.(weight|bias)$'),
     lambda m: f"body.{m[1]}.blocks.{m[2]}.conv{1 if m[3] == '0' else 2}.{m[4]}"),
    (re.compile(r'^body\.(\d+)\.conv_last\.(weight|bias)$'), lambda m: f'body.{m[1]}.conv.{m[2]}'),
    (re.compile(r'^body\.(\d+)\.iia\.Capattention\.([01345])\.weight$'),
     lambda m: f'body.{m[1]}.cagm.{_POOL_LAYERS[m[2]]}.weight'),
    (re.compile(r'^body\.(\d+)\.iga\.Capattention\.([0-4])\.weight$'),
     lambda m: f'body.{m[1]}.cagm.{_WAVELET_LAYERS[m[2]]}.weight'),
    (re.compile(r'^tail\.0\.(\d+)\.(weight|bias)$'), lambda m: f'upsample.{m[1]}.{m[2]}'),
    (re.compile(r'^tail\.1\.(weight|bias)$'), lambda m: f'conv_last.{m[1]}'),
)


def is_released_layout(state):
    return 'head.0.weight' in state and 'tail.1.weight' in state


def _upsample_scale(widths, stages, num_feat):
    """The scale of basicsr's Upsample from its convolutions' output widths: 4C per x2 stage, or one 9C for x3."""
    if widths == {4 * num_feat}:
        return 2**stages
    if widths == {9 * num_feat} and stages == 1:
        return 3
    return None


def released_arch_options(state, path=''):
    """IGAN constructor options (num_feat, num_group, num_block, upscale, cagm) read off a released state_dict."""
    try:
        num_feat = state['head.0.weight'].shape[0]
        groups = {int(m[1]) for k in state if (m := re.match(r'^body\.(\d+)\.rbs\.', k))}
        blocks = {int(m[1]) for k in state if (m := re.match(r'^body\.0\.rbs\.(\d+)\.', k))}
        stages = sorted(int(m[1]) for k in state if (m := re.match(r'^tail\.0\.(\d+)\.weight$', k)))
        widths = {state[f'tail.0.{i}.weight'].shape[0] for i in stages}
    except (KeyError, AttributeError) as err:
        raise CheckpointError(f'{path}: released IGAN layout is incomplete (missing {err}).') from None
    if not groups or not blocks or not stages:
        raise CheckpointError(f'{path}: released IGAN layout without body.N.rbs.M or tail.0.N keys.')
    upscale = _upsample_scale(widths, len(stages), num_feat)
    if upscale is None:
        raise CheckpointError(f'{path}: cannot tell the scale from the upsampler: tail.0.{stages} produce '
                              f'{sorted(widths)} channels for num_feat={num_feat}.')
    variants = {m[1] for k in state if (m := re.match(r'^body\.\d+\.(iia|iga)\.', k))}
    if len(variants) != 1:
        raise CheckpointError(f'{path}: expected either body.N.iia (pool CAGM) or body.N.iga (wavelet CAGM) '
                              f'keys, found {sorted(variants) or "neither"}.')
    return dict(num_feat=num_feat, num_group=max(groups) + 1, num_block=max(blocks) + 1, upscale=upscale,
                cagm='pool' if variants == {'iia'} else 'wavelet')


def _check_constants(state, path, img_range, rgb_mean):
    mean = torch.tensor(rgb_mean) * img_range
    expected = {'sub_mean.bias': -mean, 'add_mean.bias': mean}
    for key, want in expected.items():
        if key in state and not torch.allclose(state[key].float(), want, rtol=1e-4, atol=1e-3):
            raise CheckpointError(f'{path}: {key} = {state[key].tolist()} does not match img_range={img_range} '
                                  f'and rgb_mean={tuple(rgb_mean)} (expected {want.tolist()}); set those in '
                                  'network_g to what the checkpoint was trained with.')
    # The reference's mean shift divides by a per-channel std (1 in every release): IGAN has no such division.
    for key in ('sub_mean.weight', 'add_mean.weight'):
        if key in state and not torch.equal(state[key].float().flatten(), torch.eye(3).flatten()):
            raise CheckpointError(f'{path}: {key} is not the 3x3 identity (a mean shift that also divides by a '
                                  'standard deviation); IGAN only subtracts and adds the mean, so this checkpoint '
                                  'cannot be reproduced.')
    haar = haar_filters()
    for key in (k for k in state if HAAR_KEY.match(k)):
        value = state[key]
        if value.shape[1:] != haar.shape[1:] or not torch.equal(value, haar.repeat(value.shape[0] // 4, 1, 1, 1)):
            raise CheckpointError(f'{path}: {key} does not hold the one-level Haar filters the wavelet CAGM uses.')


def convert_released(state, path='', img_range=255., rgb_mean=DIV2K_RGB_MEAN):
    """Map a released IGAN state_dict to our key names; returns (state_dict, arch options)."""
    options = released_arch_options(state, path)
    _check_constants(state, path, img_range, rgb_mean)
    converted, unknown = {}, []
    for key, value in state.items():
        if UNUSED_KEYS.match(key) or MEAN_SHIFT_KEYS.match(key) or HAAR_KEY.match(key):
            continue
        for pattern, rename in _RENAMES:
            if (m := pattern.match(key)):
                converted[rename(m)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f'{path}: keys that are not part of the released IGAN layout: {listing(unknown)}.')
    return converted, options


def igan_arch_options(state, path=''):
    """IGAN constructor options read off a state_dict in IGAN's own layout (a BasicSR checkpoint of IGAN).

    Which of 'growth' and 'self' attention a network was trained with leaves no trace in its weights: a
    checkpoint with CAGM weights is taken as the paper's 'growth'; give the option file (-opt) otherwise.
    """
    if 'conv_first.weight' not in state or not any(k.startswith('body.0.blocks.') for k in state):
        raise CheckpointError(f'{path}: not an IGAN checkpoint (no conv_first / body.N.blocks keys); for another '
                              'network pass its option file with -opt.')
    num_feat, num_in_ch = state['conv_first.weight'].shape[:2]
    groups = {int(m[1]) for k in state if (m := re.match(r'^body\.(\d+)\.', k))}
    blocks = {int(m[1]) for k in state if (m := re.match(r'^body\.0\.blocks\.(\d+)\.', k))}
    widths = [state[k].shape[0] for k in sorted(state) if re.match(r'^upsample\.\d+\.weight$', k)]
    upscale = _upsample_scale(set(widths), len(widths), num_feat)
    if upscale is None:
        raise CheckpointError(f'{path}: cannot tell the scale from the upsampler widths {widths} '
                              f'(num_feat={num_feat}).')
    options = dict(num_in_ch=num_in_ch, num_out_ch=num_in_ch, num_feat=num_feat, num_group=max(groups) + 1,
                   num_block=max(blocks) + 1, upscale=upscale)
    cagm = state.get('body.0.cagm.conv1.weight')
    if cagm is None:
        return dict(options, attention='none')
    # conv1 of each variant: pool C -> C/2 (3x3), wavelet 4C -> C (1x1), mean C -> C/16 (1x1).
    variant = {num_feat // 2: 'pool', num_feat: 'wavelet', num_feat // 16: 'mean'}.get(cagm.shape[0])
    if variant is None:
        raise CheckpointError(f'{path}: body.0.cagm.conv1.weight {tuple(cagm.shape)} fits no CAGM variant.')
    return dict(options, cagm=variant)


def _igan_size(options):
    return ', '.join(f'{key} {options[key]}' for key in ('num_feat', 'num_group', 'num_block'))


def check_igan_size(net, state, path):
    """An IGAN checkpoint of another scale or size than `net` named as such, before its keys are listed: the
    listing alone does not say that the file is, say, an x8 one."""
    if not isinstance(net, IGAN):
        return
    try:
        found = igan_arch_options(state, path)
    except CheckpointError:
        return  # not IGAN's sizes to compare: checkpoints.check_state_dict lists the keys that do not fit
    found = {key: found[key] for key in ('upscale', 'num_feat', 'num_group', 'num_block')}
    built = {key: getattr(net, key) for key in found}
    if found != built:
        raise CheckpointError(f"{path}: this is an x{found['upscale']} IGAN checkpoint ({_igan_size(found)}), but "
                              f"network_g builds an x{built['upscale']} IGAN ({_igan_size(built)}); set scale and "
                              'network_g to match it, or load a checkpoint made for network_g.')


def load_released(path, upscale=None):
    """Read a released IGAN file; returns (our state_dict, arch options), checked against a built IGAN."""
    state = extract_state_dict(load_checkpoint(path), path)
    if not is_released_layout(state):
        raise CheckpointError(f'{path}: not a released IGAN state_dict (no head.0.weight / tail.1.weight keys).')
    converted, options = convert_released(state, path)
    if upscale is not None and upscale != options['upscale']:
        raise CheckpointError(f"{path}: this is an x{options['upscale']} checkpoint, but --scale {upscale} was "
                              'asked for.')
    check_state_dict(IGAN(**options), converted, path)
    return converted, options
