"""SRModel plus the switches that are not specific to any network: layout, compilation, precision, tiles and
the self-ensemble."""
import contextlib
import os
from collections import OrderedDict
from functools import partial

import torch
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY

from ..checkpoints import check_state_dict, extract_state_dict, is_safetensors, load_checkpoint, save_state_dict
from .precision import conv_precision
from .saving import checkpoint_format, network_file, weights_file
from .switches import AMP_DTYPES, repeated_blocks, switch_errors
from .test_time import self_ensemble, tiled_forward


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
        logger: save_checkpoint_format: safetensors
                                  the networks saved as .safetensors tensor files instead of BasicSR's .pth
                                  (saving.py); resuming reads them.
    """

    def __init__(self, opt):
        errors = switch_errors(opt)
        if errors:
            raise ValueError('option file: ' + ' '.join(errors))
        # The speed options are read before SRModel builds the network: model_to_device applies them.
        self.channels_last = opt.get('channels_last', False)
        compile_opt = opt.get('compile', False)
        self.compile_kwargs = ({} if compile_opt is True else dict(compile_opt)) if compile_opt else None
        self.checkpoint_format = checkpoint_format(opt)
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

    def check_state(self, net, state, load_path):
        """CheckpointError naming every key of `state` that does not fit `net` (a strict load); a subclass may
        say first what the keys mean (IGANModel: a checkpoint of another scale or size)."""
        check_state_dict(net, state, load_path)

    def save_network(self, net, net_label, current_iter, param_key='params'):
        """BaseModel.save_network; with logger: save_checkpoint_format: safetensors, one tensor file per set of
        weights (saving.py), each written whole or not at all."""
        if self.checkpoint_format == 'pth':
            return super().save_network(net, net_label, current_iter, param_key)
        iteration = 'latest' if current_iter == -1 else current_iter
        keys = param_key if isinstance(param_key, list) else [param_key]
        for net_, key in zip(net if isinstance(net, list) else [net], keys):
            path = network_file(self.opt['path']['models'], net_label, iteration, self.checkpoint_format, key)
            save_state_dict(self.get_bare_model(net_).state_dict(), path)

    def load_network(self, net, load_path, strict=True, param_key='params'):
        """BaseModel.load_network reading weights only (a .safetensors file's params_ema from the file beside it,
        saving.py), with one error naming every key that does not fit."""
        logger = get_root_logger()
        net = self.get_bare_model(net)
        shown = param_key  # what the log names; a safetensors file holds one set of weights, read as params
        if is_safetensors(load_path) and param_key != 'params':
            if os.path.isfile(weights_file(load_path, param_key)):
                load_path = weights_file(load_path, param_key)
            else:
                logger.info(f'Loading: {param_key} does not exist, use params.')
                shown = 'params'
            param_key = 'params'
        ckpt = load_checkpoint(load_path)
        if isinstance(ckpt, dict) and param_key not in ckpt and 'params' in ckpt:
            # basicsr's own fallback (a file saved without EMA weights), said in the log as basicsr says it.
            logger.info(f'Loading: {param_key} does not exist, use params.')
            param_key = shown = 'params'
        state = self.convert_state(net, extract_state_dict(ckpt, load_path, param_key), load_path)
        logger.info(f'Loading {type(net).__name__} from {load_path} [{shown}].')
        if strict:
            self.check_state(net, state, load_path)
        self._print_different_keys_loading(net, state, strict)
        net.load_state_dict(state, strict=strict)
