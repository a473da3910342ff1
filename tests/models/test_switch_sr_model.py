import glob
import os
import re

import pytest
import torch
from basicsr.archs import build_network
from basicsr.models import build_model
from conftest import REPO, run_cli, tiny_train_options, write_yaml

from igan_basicsr import basicsr_fixes
from igan_basicsr.archs import IGAN
from igan_basicsr.checkpoints import load_checkpoint
from igan_basicsr.models.switches import repeated_blocks
from igan_basicsr.options import load_options
from scripts.benchmarks.common import random_batch, train_options

NET = {'type': 'IGAN', 'upscale': 4, 'num_feat': 16, 'num_group': 2, 'num_block': 1}
DATA = random_batch(2, 12, 4)
IMAGE = torch.rand(1, 3, 21, 17, generator=torch.Generator().manual_seed(5))


def trained_and_tested(train=None, val=None, net=NET, **top):
    """(loss of one training step, its gradient as one vector, the weights after it, test output on IMAGE)
    for a model with these switches, from the same initial weights."""
    torch.manual_seed(0)
    model = build_model(train_options(net, 4, train=train, val=val or {}, **top))
    model.feed_data(DATA)
    model.optimize_parameters(1)
    net = model.get_bare_model(model.net_g)
    grad = torch.cat([p.grad.flatten() for p in net.parameters()])
    model.feed_data({'lq': IMAGE})
    model.test()
    return model.log_dict['l_pix'], grad, net.state_dict(), model.output


@pytest.fixture(scope='module')
def baseline():
    return trained_and_tested()


def assert_same_step(result, baseline, loss_tol, grad_tol, out_tol):
    """Relative tolerances on the loss and on the gradient (norm of the difference), absolute on the output."""
    loss, grad, state, out = result
    ref_loss, ref_grad, ref_state, ref_out = baseline
    assert abs(loss - ref_loss) <= loss_tol * ref_loss
    assert ((grad - ref_grad).norm() / ref_grad.norm()).item() <= grad_tol
    assert state.keys() == ref_state.keys()
    assert out.dtype == torch.float32 and out.shape == ref_out.shape
    assert (out - ref_out).abs().max().item() <= out_tol


def test_channels_last_gives_the_float32_result(baseline):
    result = trained_and_tested(channels_last=True)
    assert_same_step(result, baseline, loss_tol=1e-5, grad_tol=1e-4, out_tol=1e-5)


def test_channels_last_converts_the_weights_and_leaves_the_buffers_standard():
    net = build_model(train_options(dict(NET, cagm='wavelet'), 4, channels_last=True)).net_g
    convs = [m.weight for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous() for w in convs)
    # DDP broadcasts buffers into their own memory: an NHWC (1, 3, 1, 1) mean has strides (3, 1, 3, 3).
    assert net.mean.stride() == (3, 1, 1, 1)
    assert all(b.is_contiguous() for b in net.buffers())


@pytest.mark.parametrize('peer', ['EDSR', 'RCAN'])
def test_channels_last_runs_the_peers_nhwc(peer):
    # What budget_compare.py --channels-last trains: a peer's network through SwitchSRModel with the switch.
    opt = load_options(os.path.join(REPO, 'options', 'compare', 'tiny', f'{peer}_x4.yml'))
    model = build_model(train_options(opt['network_g'], opt['scale'], channels_last=True))
    convs = [m for m in model.net_g.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[-1] > 1]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    seen = []
    hooks = [m.register_forward_hook(lambda m, args, out: seen.append(out.is_contiguous(
        memory_format=torch.channels_last))) for m in convs]
    model.feed_data(DATA)
    model.optimize_parameters(1)
    for hook in hooks:
        hook.remove()
    assert len(seen) == len(convs) and all(seen)


def test_bf16_trains_and_infers_close_to_float32(baseline):
    result = trained_and_tested(train={'amp': 'bf16'}, val={'amp': 'bf16'})
    # bf16 keeps 8 bits of mantissa: the loss within 1 %, the gradient within 10 %, outputs within a few grey levels.
    assert_same_step(result, baseline, loss_tol=1e-2, grad_tol=0.1, out_tol=0.02)


def test_compile_gives_the_eager_result_and_portable_checkpoints(baseline, caplog):
    caplog.set_level('INFO', logger='basicsr')
    result = trained_and_tested(compile=True)
    assert 'IGAN runs with compile.' in caplog.text
    assert_same_step(result, baseline, loss_tol=1e-4, grad_tol=1e-3, out_tol=1e-4)
    # Compiled in place: the state_dict keys are the plain network's, so the weights load anywhere.
    IGAN(**{k: v for k, v in NET.items() if k != 'type'}).load_state_dict(result[2], strict=True)


def test_regional_compile_compiles_each_group_once_and_gives_the_eager_result(caplog):
    caplog.set_level('INFO', logger='basicsr')
    net = dict(NET, num_group=4)  # groups that hold most of the parameters, as in the real networks
    eager = trained_and_tested(net=net)
    torch.compiler.reset()  # no graph of an earlier test is reused
    graphs = torch._dynamo.utils.counters['stats']['unique_graphs']
    result = trained_and_tested(net=net, compile={'regional': True})
    assert 'IGAN runs with compile per block (4 InformationGrowthGroup in body, 64% of the parameters).' in caplog.text
    assert_same_step(result, eager, loss_tol=1e-4, grad_tol=1e-3, out_tol=1e-4)
    IGAN(**{k: v for k, v in net.items() if k != 'type'}).load_state_dict(result[2], strict=True)
    # The four groups share one graph: a training step and a test compile one graph each, not one per group.
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] - graphs == 2
    # The groups are compiled, the network around them is not; the option file's mapping is left as written.
    opt = train_options(net, 4, compile={'regional': True})
    network = build_model(opt).net_g
    assert network._compiled_call_impl is None and all(g._compiled_call_impl is not None for g in network.body)
    assert opt['compile'] == {'regional': True}


@pytest.mark.parametrize('option_file, blocks', [
    ('train_IGAN_x4.yml', ('body', 20, 'InformationGrowthGroup', '98%')),
    ('compare/RCAN_x4.yml', ('body', 10, 'ResidualGroup', '98%')),
    ('compare/EDSR_x4.yml', ('body', 32, 'ResidualBlockNoBN', '88%')),
    ('compare/SwinIR_x4.yml', ('layers', 6, 'RSTB', '94%')),
])
def test_regional_compile_finds_the_repeated_blocks_of_each_network(option_file, blocks):
    opt = load_options(os.path.join(REPO, 'options', option_file))
    found = repeated_blocks(build_network(opt['network_g']))
    assert (found.name, len(found.modules), type(found.modules[0]).__name__, f'{found.share:.0%}') == blocks


@pytest.mark.parametrize('net, message', [
    (dict(NET, num_group=1), r'compile: regional needs repeated blocks .* and IGAN has none; use compile: true\.'),
    # Two small groups: the upsampler holds more, and would run eager.
    (NET, r'compile: regional: the largest run of alike blocks in IGAN \(2 InformationGrowthGroup in body\) '
          r'holds 47% of its parameters; use compile: true\.'),
])
def test_regional_compile_without_enough_repeated_blocks_is_refused(net, message):
    with pytest.raises(ValueError, match=message):
        build_model(train_options(net, 4, compile={'regional': True}))


@pytest.mark.parametrize('section', ['train', 'val'])
def test_fp16_on_cpu_is_refused_with_what_to_use(section):
    kwargs = {section: {'amp': 'fp16'}}
    with pytest.raises(ValueError, match=f'{section}: amp=fp16 needs a CUDA GPU .* use amp: bf16 on CPU'):
        build_model(train_options(NET, 4, **kwargs))


@pytest.mark.parametrize('top, message', [
    ({'channels_last': 'yes'}, r"channels_last='yes' must be true or false"),
    ({'compile': 'max-autotune'}, r"compile='max-autotune' must be true, false or a mapping"),
    ({'compile': {'regional': 'yes'}}, r"compile: regional='yes' must be true or false"),
    ({'compile': {'regonal': True}}, r'compile: regonal: unknown key; did you mean regional\?'),
])
def test_bad_switches_are_refused(top, message):
    with pytest.raises(ValueError, match=message):
        build_model(train_options(NET, 4, **top))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='fp16 with a grad scaler needs a CUDA GPU')
def test_fp16_with_grad_scaler_on_cuda():
    torch.manual_seed(0)
    model = build_model(train_options(NET, 4, device='cuda', train={'amp': 'fp16'}, val={'amp': 'fp16'}))
    assert model.grad_scaler.is_enabled()
    before = model.grad_scaler.get_scale()
    model.feed_data(DATA)
    model.optimize_parameters(1)
    assert torch.isfinite(torch.tensor(model.log_dict['l_pix'])) and model.grad_scaler.get_scale() <= before


def test_the_grad_scaler_is_saved_with_the_training_state_and_restored(tmp_path):
    """fp16 needs CUDA, so a CPU grad scaler (the same class) stands in for the one amp: fp16 builds there."""
    basicsr_fixes.apply()  # what `basicsr train` does before it builds the model
    models = []
    for _ in range(2):
        model = build_model(train_options(NET, 4, train={'amp': 'bf16'}, path={'training_states': str(tmp_path)}))
        model.grad_scaler = torch.amp.GradScaler('cpu')
        models.append(model)
    scaler = models[0].grad_scaler
    scaler.scale(torch.ones(()))
    scaler.update(new_scale=384.0)
    models[0].save_training_state(epoch=0, current_iter=7)
    state = load_checkpoint(str(tmp_path / '7.state'))
    assert state['grad_scaler']['scale'] == 384.0
    models[1].resume_training(state)
    assert models[1].grad_scaler.get_scale() == 384.0


@pytest.mark.slow
def test_basicsr_train_with_every_switch(tmp_path):
    opt = tiny_train_options('tiny_fast', iters=2)
    opt.update(channels_last=True, compile=True)
    opt['train']['amp'] = 'bf16'
    opt['val'].update(amp='bf16', tile=48, tile_pad=4)
    run_cli(['basicsr', 'train', '-opt', write_yaml(tmp_path / 'fast.yml', opt)], cwd=tmp_path)
    exp = tmp_path / 'experiments' / 'tiny_fast'
    params = torch.load(exp / 'models' / 'net_g_latest.pth', weights_only=True)['params']
    IGAN(**{k: v for k, v in opt['network_g'].items() if k != 'type'}).load_state_dict(params, strict=True)
    log = open(glob.glob(str(exp / 'train_tiny_fast_*.log'))[0]).read()
    assert re.search(r'l_pix: [\d.e+-]+', log) and re.search(r'# psnr: [\d.]+', log)


@pytest.mark.parametrize('native', [True, False], ids=['native-bf16', 'emulated-bf16'])
def test_bf16_on_a_cpu_without_native_bf16_warns(caplog, monkeypatch, native):
    monkeypatch.setattr(torch.ops.mkldnn, '_is_mkldnn_bf16_supported', lambda: native)
    caplog.set_level('WARNING', logger='basicsr')
    build_model(train_options(NET, 4, train={'amp': 'bf16'}))
    assert ('train: amp=bf16 on a CPU without native bf16' in caplog.text) is not native
