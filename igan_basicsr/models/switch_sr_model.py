"""SRModel plus the switches that are not specific to any network: layout, compilation, precision, tiles and
the self-ensemble."""
import contextlib
import inspect
import os
from collections import OrderedDict
from functools import partial
from typing import NamedTuple

import torch
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY
from torch import nn

from ..inference import self_ensemble, tiled_forward
from ..precision import conv_precision
from ..released import check_state_dict, extract_state_dict, load_checkpoint

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
# compile: {regional: true} refuses blocks that hold less: the rest of the network would run eager.
REGIONAL_MIN_SHARE = 0.5


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def option_errors(opt):
    """The switches in `opt` that are not valid, one line each naming the key: basicsr's checks leave
    them alone, and `basicsr train|test` reports these before it creates any folder. What depends on the device
    or the network (fp16 off CUDA, the smallest tile) is checked when the model is built."""
    val, train = opt.get('val') or {}, opt.get('train') or {}
    errors = [f'{where}{key}={section[key]!r} must be true or false.'
              for where, section, key in (('', opt, 'channels_last'), ('val: ', val, 'self_ensemble'),
                                          ('val: ', val, 'tf32'))
              if not isinstance(section.get(key, False), bool)]
    compile_opt = opt.get('compile', False)
    if not isinstance(compile_opt, (bool, dict)):
        errors.append(f'compile={compile_opt!r} must be true, false or a mapping of torch.compile arguments '
                      '(e.g. {mode: max-autotune}).')
    elif isinstance(compile_opt, dict):
        errors += _compile_errors(compile_opt)
    for where, section in (('train', train), ('val', val)):
        amp = section.get('amp')
        if amp is not None and amp not in AMP_DTYPES:
            errors.append(f'{where}: amp={amp!r} is not one of {tuple(AMP_DTYPES)} (or ~ for float32).')
    tile, tile_pad = val.get('tile'), val.get('tile_pad', 0)
    if tile is None and 'tile_pad' in val:
        errors.append('val: tile_pad is set but tile is not; set val: tile (LR pixels per tile) as well.')
    if tile is not None and not (_is_int(tile) and tile >= 1):
        errors.append(f'val: tile={tile!r} must be an integer of at least 1 (LR pixels per tile).')
    if tile is not None and not (_is_int(tile_pad) and tile_pad >= 0):
        errors.append(f'val: tile_pad={tile_pad!r} must be an integer >= 0.')
    return errors


def _compile_errors(compile_opt):
    """The keys of a `compile:` mapping that neither torch.compile nor `regional` takes, and a non-bool regional:
    caught before the run, not as a TypeError when the network is built."""
    from ..options import closest  # here: igan_basicsr.options imports this module

    keys = [k for k in inspect.signature(torch.compile).parameters if k != 'model'] + ['regional']
    errors = []
    for key in compile_opt:
        if key not in keys:
            close = closest(key, keys)
            hint = f'did you mean {close}?' if close else f"it takes {', '.join(keys)}."
            errors.append(f'compile: {key}: unknown key; {hint}')
    if not isinstance(compile_opt.get('regional', False), bool):
        errors.append(f"compile: regional={compile_opt['regional']!r} must be true or false.")
    return errors


class Blocks(NamedTuple):
    """A network's repeated blocks: where they are, the modules, and the share of its parameters they hold."""
    name: str
    modules: list
    share: float


def repeated_blocks(net):
    """The Blocks compile: {regional: true} compiles one by one: the children of the network's largest (by
    parameters) nn.Sequential or nn.ModuleList of at least two alike modules (one class, the same parameter
    shapes), e.g. IGAN's and RCAN's groups, EDSR's residual blocks, SwinIR's RSTBs. ValueError where there are
    none, or where they hold under REGIONAL_MIN_SHARE of the parameters (most of the network would stay eager)."""
    def size(module):
        return sum(p.numel() for p in module.parameters())

    def shapes(module):
        return [p.shape for p in module.parameters()]

    candidates = [(name, m) for name, m in net.named_modules()
                  if isinstance(m, (nn.Sequential, nn.ModuleList)) and len(m) >= 2
                  and len({type(child) for child in m}) == 1 and all(shapes(c) == shapes(m[0]) for c in m)]
    net_name = type(net).__name__
    if not candidates:
        raise ValueError(f'compile: regional needs repeated blocks (an nn.Sequential or nn.ModuleList of alike '
                         f'modules) and {net_name} has none; use compile: true.')
    name, blocks = max(candidates, key=lambda c: size(c[1]))
    found = Blocks(name, list(blocks), size(blocks) / max(size(net), 1))
    if found.share < REGIONAL_MIN_SHARE:
        raise ValueError(f'compile: regional: the largest run of alike blocks in {net_name} ({len(blocks)} '
                         f'{type(blocks[0]).__name__} in {name}) holds {found.share:.0%} of its parameters; '
                         'use compile: true.')
    return found


def has_switches(model_type):
    """Whether the registered model class `model_type` is SwitchSRModel or a subclass (IGANModel, a plugin's)."""
    model_class = MODEL_REGISTRY.get(model_type) if model_type in MODEL_REGISTRY else None
    return isinstance(model_class, type) and issubclass(model_class, SwitchSRModel)


def _amp_dtype(value, where, device):
    if value is None:
        return None
    if value == 'fp16' and device.type != 'cuda':
        raise ValueError(f'{where}: amp=fp16 needs a CUDA GPU and this model runs on {device.type} '
                         '(num_gpu: 0 or no GPU found); use amp: bf16 on CPU.')
    if value == 'bf16' and device.type == 'cpu' and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        get_root_logger().warning(f'{where}: amp=bf16 on a CPU without native bf16 (AVX512-BF16/AMX): it is '
                                  'emulated and much slower than float32 here.')
    return AMP_DTYPES[value]


@MODEL_REGISTRY.register()
class SwitchSRModel(SRModel):
    """basicsr's SRModel with speed and test-time switches that any network can use (EDSR, RCAN, IGAN, ...).

    Option-file switches, all off by default (then training and testing are SRModel's):
        channels_last (top level): NHWC network and inputs.
        compile (top level): torch.compile the network (true, or a mapping of torch.compile arguments; with
                             regional: true in it, each of the network's repeated_blocks instead: alike blocks
                             share one graph, so compilation is far shorter).
        train: amp: bf16 | fp16   mixed-precision training steps; fp16 (CUDA only) with a grad scaler.
        val: amp: bf16 | fp16     mixed-precision inference.
        val: tile / tile_pad      inference on tiles of `tile` LR pixels read with `tile_pad` pixels of context.
        val: self_ensemble        mean over the 8 flips/rotations of the input.
        val: tf32                 TF32 convolutions on CUDA at test time. Off by default: on Ampere and newer GPUs
                                  PyTorch convolves float32 in TF32, which moves IGAN's released network's output
                                  ~3e-3 away from the reference (the spec allows 1e-4).
    """

    def __init__(self, opt):
        errors = option_errors(opt)
        if errors:
            raise ValueError('option file: ' + ' '.join(errors))
        # The speed options are read before SRModel builds the network: model_to_device applies them.
        self.channels_last = opt.get('channels_last', False)
        compile_opt = opt.get('compile', False)
        self.compile_kwargs = ({} if compile_opt is True else dict(compile_opt)) if compile_opt else None
        self.compile_regional = False
        if self.compile_kwargs:
            self.compile_regional = self.compile_kwargs.pop('regional', False)
        super().__init__(opt)
        self._read_test_options(opt.get('val') or {})

    def _read_test_options(self, val):
        self.test_amp = _amp_dtype(val.get('amp'), 'val', self.device)
        self.self_ensemble = val.get('self_ensemble', False)
        self.test_tf32 = val.get('tf32', False)
        self.tile, self.tile_pad = val.get('tile'), val.get('tile_pad', 0)
        if self.tile is not None:
            net = self.get_bare_model(self.net_g)
            min_size = getattr(net, 'min_size', 1)
            if self.tile < min_size:
                raise ValueError(f'val: tile={self.tile!r} must be an integer of at least {min_size} '
                                 f'(the smallest LR input {type(net).__name__} accepts).')

    def _speed_up(self, net):
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
            # The buffers (RGB mean, Haar filters) lose nothing in the standard layout, and DDP's buffer broadcast
            # cannot write back into an NHWC (1, C, 1, 1) one ("... refer to a single memory location").
            for module in net.modules():
                for name, buffer in module.named_buffers(recurse=False):
                    setattr(module, name, buffer.clone(memory_format=torch.contiguous_format))
        switches = ['channels_last'] if self.channels_last else []
        if self.compile_kwargs is not None:
            switches.append(self._compile(net))
        # Said in the training log, so that a run's log tells which layout and kernels its minutes were spent on.
        if switches:
            get_root_logger().info(f"{type(net).__name__} runs with {', '.join(switches)}.")
        return net

    def _compile(self, net):
        """Compiles `net`, or each of its repeated blocks, in place; says how, for the log."""
        # Module.compile() compiles in place: state_dict keys stay free of '_orig_mod.', so checkpoints
        # saved from a compiled run load anywhere.
        how = f'compile {self.compile_kwargs}' if self.compile_kwargs else 'compile'
        if not self.compile_regional:
            net.compile(**self.compile_kwargs)
            return how
        blocks = repeated_blocks(net)
        for block in blocks.modules:
            block.compile(**self.compile_kwargs)
        return (f'{how} per block ({len(blocks.modules)} {type(blocks.modules[0]).__name__} in {blocks.name}, '
                f'{blocks.share:.0%} of the parameters)')

    def model_to_device(self, net):
        return super().model_to_device(self._speed_up(net))

    def init_training_settings(self):
        self.train_amp = _amp_dtype(self.opt['train'].get('amp'), 'train', self.device)
        # A grad scaler only for fp16: bf16 keeps float32's exponent range, so its gradients do not underflow.
        self.grad_scaler = torch.amp.GradScaler(self.device.type, enabled=self.train_amp == torch.float16)
        super().init_training_settings()
        if hasattr(self, 'net_g_ema'):
            self.net_g_ema = self._speed_up(self.net_g_ema)

    def feed_data(self, data):
        super().feed_data(data)
        if self.channels_last:
            self.lq = self.lq.contiguous(memory_format=torch.channels_last)

    def _autocast(self, dtype):
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def optimize_parameters(self, current_iter):
        if self.train_amp is None:
            return super().optimize_parameters(current_iter)
        # SRModel's step has no hook for autocast or a grad scaler, so its loss bookkeeping is repeated here.
        self.optimizer_g.zero_grad()
        with self._autocast(self.train_amp):
            self.output = self.net_g(self.lq)
        self.output = self.output.float()
        l_total = 0
        loss_dict = OrderedDict()
        if self.cri_pix:
            l_pix = self.cri_pix(self.output, self.gt)
            l_total += l_pix
            loss_dict['l_pix'] = l_pix
        if self.cri_perceptual:
            l_percep, l_style = self.cri_perceptual(self.output, self.gt)
            if l_percep is not None:
                l_total += l_percep
                loss_dict['l_percep'] = l_percep
            if l_style is not None:
                l_total += l_style
                loss_dict['l_style'] = l_style
        self.grad_scaler.scale(l_total).backward()
        self.grad_scaler.step(self.optimizer_g)
        self.grad_scaler.update()
        self.log_dict = self.reduce_loss_dict(loss_dict)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def inference(self, net, lq):
        """The network output for `lq` under the val: options (tiles, self-ensemble, amp, tf32), in float32."""
        run = net
        if self.tile is not None:
            run = partial(tiled_forward, net, scale=self.opt['scale'], tile=self.tile, tile_pad=self.tile_pad)
        with torch.no_grad(), conv_precision(self.test_tf32, self.device), self._autocast(self.test_amp):
            out = self_ensemble(run, lq) if self.self_ensemble else run(lq)
        return out.float()

    def test(self):
        if hasattr(self, 'net_g_ema'):
            self.net_g_ema.eval()
            self.output = self.inference(self.net_g_ema, self.lq)
        else:
            self.net_g.eval()
            self.output = self.inference(self.net_g, self.lq)
            self.net_g.train()

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        super().nondist_validation(dataloader, current_iter, tb_logger, save_img)
        if save_img and not self.opt['is_train']:
            # basicsr writes the images of `basicsr test` without saying where.
            name = dataloader.dataset.opt['name']
            folder = os.path.join(self.opt['path']['visualization'], name)
            get_root_logger().info(f'Images of {name} written to {folder}/')

    def convert_state(self, net, state, load_path):
        """`state` in the layout `net` expects; a subclass converts other layouts (IGANModel: released files)."""
        return state

    def load_network(self, net, load_path, strict=True, param_key='params'):
        """BaseModel.load_network reading weights only, with one error naming every key that does not fit."""
        logger = get_root_logger()
        net = self.get_bare_model(net)
        ckpt = load_checkpoint(load_path)
        if isinstance(ckpt, dict) and param_key not in ckpt and 'params' in ckpt:
            # basicsr's own fallback (a file saved without EMA weights), said in the log as basicsr says it.
            logger.info(f'Loading: {param_key} does not exist, use params.')
            param_key = 'params'
        state = self.convert_state(net, extract_state_dict(ckpt, load_path, param_key), load_path)
        logger.info(f'Loading {type(net).__name__} from {load_path} [{param_key}].')
        if strict:
            check_state_dict(net, state, load_path)
        self._print_different_keys_loading(net, state, strict)
        net.load_state_dict(state, strict=strict)
