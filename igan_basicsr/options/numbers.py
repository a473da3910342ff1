"""The numbers basicsr computes with. YAML 1.1 reads `5e-4` and `1e4` as strings; where basicsr computes with a
value (the keys in NUMBERS, and network_g's arguments whose default is a number) a string that Python reads as a
number becomes that number, in the checked options and, through basicsr_fixes/parsing.py, in the ones basicsr
runs with. Strings elsewhere are left as they are."""
import inspect
import math
from typing import NamedTuple

from basicsr.utils.registry import ARCH_REGISTRY


class Number(NamedTuple):
    """A value basicsr computes with: an integer (1e4 and 5000.0 read as 10000 and 5000) or any number, within
    [low, high], or a list of such; `words` are values also accepted as they are."""
    whole: bool
    low: float = None
    high: float = None
    listed: bool = False
    words: tuple = ()
    from_text: bool = True  # False: read before basicsr_fixes/parsing.py can convert it, so a string fails

    def __str__(self):
        kind = 'integer' if self.whole else 'number'
        bounds = (f' between {self.low:g} and {self.high:g}' if self.high is not None
                  else f' >= {self.low:g}' if self.low is not None else '')
        text = f'a list of {kind}s{bounds}' if self.listed else f"{'an' if self.whole else 'a'} {kind}{bounds}"
        return text + ''.join(f' or {word!r}' for word in self.words)


INT, NUM = True, False
NUMBERS = {
    'scale': Number(INT, 1),
    'num_gpu': Number(INT, 0, words=('auto', )),
    'manual_seed': Number(INT, 0, words=(None, ), from_text=False),  # None: basicsr draws one
    'datasets.*.scale': Number(INT, 1),  # copied from scale by basicsr
    'datasets.*.gt_size': Number(INT, 1),
    'datasets.*.batch_size_per_gpu': Number(INT, 1),
    'datasets.*.num_worker_per_gpu': Number(INT, 0),
    'datasets.*.dataset_enlarge_ratio': Number(INT, 1),
    'datasets.*.num_prefetch_queue': Number(INT, 1),
    'train.total_iter': Number(INT, 1),
    'train.warmup_iter': Number(INT, -1),
    'train.ema_decay': Number(NUM, 0, 1),
    'train.optim_g.lr': Number(NUM, 0),
    'train.optim_g.weight_decay': Number(NUM, 0),
    'train.optim_g.eps': Number(NUM, 0),
    'train.optim_g.betas': Number(NUM, 0, 1, listed=True),
    'train.scheduler.milestones': Number(INT, 0, listed=True),
    'train.scheduler.gamma': Number(NUM, 0),
    'train.scheduler.periods': Number(INT, 1, listed=True),
    'train.scheduler.restarts': Number(INT, 0, listed=True),
    'train.scheduler.restart_weights': Number(NUM, 0, listed=True),
    'train.scheduler.eta_min': Number(NUM, 0),
    'train.*.loss_weight': Number(NUM, 0),
    'val.val_freq': Number(INT, 1),
    'val.metrics.*.crop_border': Number(INT, 0),
    'logger.print_freq': Number(INT, 1),
    'logger.save_checkpoint_freq': Number(INT, 1),
    'dist_params.port': Number(INT, 1, 65535),
    'dist_params.timeout_minutes': Number(NUM, 0),
}


def places(node, keys, where=''):
    """(dotted name, mapping, key) of every value at the path `keys` under `node`; '*' stands for any key."""
    if not isinstance(node, dict) or not keys:
        return
    head, rest = keys[0], keys[1:]
    for key in (list(node) if head == '*' else [head] if head in node else []):
        here = f'{where}.{key}' if where else str(key)
        if rest:
            yield from places(node[key], rest, here)
        else:
            yield here, node, key


def _parse(text):
    """`text` as the int or finite float Python reads in it, else unchanged."""
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if math.isfinite(value) else text
    return text


def _number(value, spec):
    """(value as basicsr needs it, whether it fits `spec`)."""
    if spec.listed:
        if not isinstance(value, (list, tuple)):
            return value, False
        items = [_number(item, spec._replace(listed=False)) for item in value]
        return [item for item, _ in items], all(ok for _, ok in items)
    if any(value is word or value == word for word in spec.words):
        return value, True
    value = _parse(value) if isinstance(value, str) and spec.from_text else value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return value, False
    if spec.whole:
        if value != int(value):
            return value, False
        value = int(value)
    return value, (spec.low is None or value >= spec.low) and (spec.high is None or value <= spec.high)


def _normalise_network(net):
    """network_g's string values read as numbers where the registered constructor's default is a number."""
    if not isinstance(net, dict) or net.get('type') not in ARCH_REGISTRY:
        return
    params = inspect.signature(ARCH_REGISTRY.get(net['type'])).parameters
    for key, value in net.items():
        default = params[key].default if key in params else None
        number = _parse(value) if isinstance(value, str) else None
        if type(default) in (int, float) and isinstance(number, (int, float)):
            whole = type(default) is int and float(number).is_integer()
            net[key] = int(number) if whole else float(number)


def normalise_numbers(opt):
    """Every value basicsr computes with, as the number it needs, in `opt` itself (see the module's doc); one line
    per value that is no number of the kind and range basicsr needs."""
    errors = []
    for pattern, spec in NUMBERS.items():
        for where, section, key in places(opt, pattern.split('.')):
            value, ok = _number(section[key], spec)
            if ok:
                section[key] = value
            else:
                errors.append(f'{where}: {section[key]!r} is not {spec}.')
    _normalise_network(opt.get('network_g'))
    return errors
