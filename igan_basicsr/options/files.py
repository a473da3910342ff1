"""Reading option files: one OptionError with a one-line reason for a file that cannot be used, and the checks
that building a file's model needs."""
import os

import yaml
from basicsr.utils.registry import ARCH_REGISTRY

from .numbers import normalise_numbers


class OptionError(ValueError):
    """An option file, or something it names (a benchmark folder, a checkpoint), that cannot be used; the
    message names the file and says what to do."""


def read_option_file(path):
    """The option file at `path` as a dict, or OptionError with a one-line reason."""
    if not os.path.isfile(path):
        raise OptionError(f'option file not found: {path}')
    try:
        with open(path) as f:
            opt = yaml.safe_load(f)
    except yaml.YAMLError as err:
        where = getattr(err, 'problem_mark', None)
        line = f' (line {where.line + 1}, column {where.column + 1})' if where else ''
        problem = getattr(err, 'problem', None) or str(err).splitlines()[0]
        raise OptionError(f'{path}{line}: invalid YAML: {problem}') from None
    except OSError as err:
        raise OptionError(f'cannot read option file {path}: {err.strerror}') from None
    if not isinstance(opt, dict):
        raise OptionError(f'{path}: expected a YAML mapping of options, got {type(opt).__name__}')
    return opt


def check_model_options(opt, path):
    """`opt` checked for what building a model needs (network_g with a registered type, an integer scale)."""
    if not isinstance(opt.get('network_g'), dict) or 'type' not in opt['network_g']:
        raise OptionError(f'{path}: needs a network_g mapping with a type (e.g. type: IGAN).')
    if opt['network_g']['type'] not in ARCH_REGISTRY:
        raise OptionError(f"{path}: network_g type {opt['network_g']['type']!r} is not in basicsr's ARCH_REGISTRY "
                          "(a plugin's network: install the plugin, or name the module that registers it with "
                          '--import MODULE).')
    errors = normalise_numbers(opt)
    if errors:
        raise OptionError(f'{path}: {errors[0]}')
    if not isinstance(opt.get('scale'), int):
        raise OptionError(f'{path}: needs an integer scale.')
    opt.setdefault('name', os.path.splitext(os.path.basename(path))[0])
    return opt


def load_options(path):
    """The option file at `path`, checked for what building its model needs."""
    return check_model_options(read_option_file(path), path)


def load_model_options(paths):
    """[(path, options)] of the option files that load, and every problem at once: files that do not, and
    files (or one file given twice) naming the same model, whose rows would be told apart by nothing."""
    problems, loaded, paths_of = [], [], {}
    for path in paths:
        try:
            opt = load_options(path)
        except OptionError as err:
            problems.append(str(err))
            continue
        loaded.append((path, opt))
        paths_of.setdefault(opt['name'], []).append(path)
    problems += [f"{' and '.join(same)} are {'both' if len(same) == 2 else 'all'} named {name!r}: give each model "
                 'its own name.' for name, same in paths_of.items() if len(same) > 1]
    return loaded, problems
