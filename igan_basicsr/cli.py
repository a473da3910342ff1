"""The `basicsr` command: `basicsr train|test -opt FILE.yml ...` with every installed plugin registered."""
import argparse
import ast
import os
import re
import sys
from importlib.metadata import entry_points

from . import basicsr_fixes
from .basicsr_fixes import distributed
from .options import OptionError, check_options, read_option_file

PLUGIN_GROUP = 'basicsr.plugins'
COMMANDS = ('train', 'test', 'infer')


def load_plugins():
    """Import every package announced under the `basicsr.plugins` entry-point group (it registers itself)."""
    return [ep.load() for ep in entry_points(group=PLUGIN_GROUP)]


def _normalise_local_rank(argv):
    # torch.distributed.launch passes --local-rank (hyphen) since torch 2.0; basicsr's parser knows --local_rank.
    return [a.replace('--local-rank', '--local_rank', 1) if a.startswith('--local-rank') else a for a in argv]


def _force(opt, entries):
    """basicsr's `--force_yml key:sub=value` overrides laid over `opt` as basicsr lays them (values read by its
    own parser), so that the checks and the distributed settings see the options the run will use. Returns
    the entries basicsr would fail on, each with why."""
    from basicsr.utils.options import _postprocess_yml_value
    errors = []
    for entry in entries or ():
        keys, sep, value = entry.partition('=')
        value = value.strip()
        if not sep or '=' in value:
            errors.append(f"--force_yml {entry}: expected one '=', as in train:ema_decay=0.999.")
            continue
        *parents, last = keys.strip().split(':')
        # basicsr builds Python source from the keys and exec()s it, and eval()s values that start with '[':
        # only plain names and literal lists get that far.
        if not all(re.fullmatch(r'\w+', key) for key in parents + [last]):
            errors.append(f'--force_yml {entry}: keys are names of letters, digits and underscores joined by '
                          "':', as in train:ema_decay=0.999.")
            continue
        if value.startswith('['):
            try:
                ast.literal_eval(value)
            except (ValueError, SyntaxError):
                errors.append(f'--force_yml {entry}: a list value must be a literal, as in '
                              'train:scheduler:milestones=[1000,2000].')
                continue
        node = opt
        for depth, key in enumerate(parents):
            node = node.get(key) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                errors.append(f"--force_yml {entry}: the option file has no section {':'.join(parents[:depth + 1])}; "
                              'basicsr sets keys of existing sections only.')
                break
        else:
            node[last] = _postprocess_yml_value(value)
    return errors


def _check_option_file(prog, argv):
    """The option file with --force_yml applied; one-line errors for a file that is missing, unreadable or
    not a YAML mapping, and for overrides basicsr cannot apply."""
    peek = argparse.ArgumentParser(prog=prog, add_help=False)
    peek.add_argument('-opt', required=True)
    peek.add_argument('--launcher', default='none')
    peek.add_argument('--force_yml', nargs='+', default=None)
    known, _ = peek.parse_known_args(argv)
    try:
        opt = read_option_file(known.opt)
    except OptionError as err:
        peek.exit(2, f'{prog}: error: {err}\n')
    errors = _force(opt, known.force_yml)
    if errors:
        peek.exit(2, ''.join(f'{prog}: error: {e}\n' for e in errors))
    return known.opt, opt, known.launcher


def run(command, argv):
    """Run basicsr's train or test pipeline with `argv` as its command line and the working directory as root."""
    prog = f'basicsr {command}'
    argv = _normalise_local_rank(argv)
    load_plugins()
    if not any(a in ('-h', '--help') for a in argv):
        path, opt, launcher = _check_option_file(prog, argv)
        errors = check_options(opt, is_train=command == 'train', launcher=launcher)
        if errors:
            sys.exit(''.join(f'{prog}: error: {path}: {e}\n' for e in errors).rstrip('\n'))
        distributed.option_defaults.update(opt.get('dist_params') or {}, num_gpu=opt.get('num_gpu', 'auto'))
    basicsr_fixes.apply()
    sys.argv = [prog] + argv
    try:
        if command == 'train':
            from basicsr.train import train_pipeline
            train_pipeline(os.getcwd())
        else:
            from basicsr.test import test_pipeline
            test_pipeline(os.getcwd())
    finally:
        distributed.shutdown()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog='basicsr',
        description='Train, test or run a BasicSR model with every installed BasicSR plugin (IGAN included).',
        epilog='Options after train and test are basicsr\'s: -opt FILE.yml [--launcher none|pytorch|slurm] '
        '[--auto_resume] [--debug] [--force_yml key:sub=value ...]. Outputs go to experiments/, results/ and '
        'tb_logger/ under the current directory. `basicsr infer -h` lists the options of infer.')
    parser.add_argument('command', choices=COMMANDS,
                        help='train: basicsr train_pipeline; test: test_pipeline; infer: upscale your own images')
    parser.add_argument('args', nargs=argparse.REMAINDER, help='arguments for the subcommand')
    if not argv or argv[0] in ('-h', '--help'):
        parser.print_help()
        return 0 if argv else 2
    ns = parser.parse_args(argv[:1])
    if ns.command == 'infer':
        from . import infer
        return infer.main(argv[1:])
    run(ns.command, argv[1:])
    return 0


if __name__ == '__main__':
    sys.exit(main())
