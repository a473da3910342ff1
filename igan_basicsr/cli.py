"""The `basicsr` command: `basicsr train|test -opt FILE.yml ...` with every installed plugin registered."""
import argparse
import ast
import glob
import os
import re
import shlex
import shutil
import sys
import traceback

import basicsr.test
import basicsr.train
from basicsr.utils.options import _postprocess_yml_value

from . import basicsr_fixes
from .basicsr_fixes import RunSettings, distributed
from .infer import command as infer_command
from .options import OptionError, check_options, read_option_file, select_test_sets
from .plugins import PluginError, load_plugins, take_imports

COMMANDS = ('train', 'test', 'infer')


def _normalise_local_rank(argv):
    # torch.distributed.launch passes --local-rank (hyphen) since torch 2.0; basicsr's parser knows --local_rank.
    return [a.replace('--local-rank', '--local_rank', 1) if a.startswith('--local-rank') else a for a in argv]


def _force(opt, entries):
    """basicsr's `--force_yml key:sub=value` overrides laid over `opt` as basicsr lays them (values read by its
    own parser), so that the checks and the distributed settings see the options the run will use. Returns
    the entries basicsr would fail on, each with why."""
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


def _take_only(prog, argv):
    """The names given by `--only NAME` (repeatable; None without any) and argv without them: basicsr's own parser
    does not know the option."""
    parser = argparse.ArgumentParser(prog=prog, add_help=False, allow_abbrev=False)
    parser.add_argument('--only', action='append')
    known, rest = parser.parse_known_args(argv)
    return known.only, rest


class RunFolders:
    """The folders a run writes under the working directory (experiments/NAME and tb_logger/NAME for training,
    results/NAME for a test; NAME as basicsr makes it, debug_NAME under --debug), and what they were before it."""

    def __init__(self, command, opt, debug):
        name = opt['name'] if not debug or opt['name'].startswith('debug') else f"debug_{opt['name']}"
        parents = ('experiments', 'tb_logger') if command == 'train' else ('results', )
        self.paths = [os.path.join(os.getcwd(), parent, name) for parent in parents]
        self.before = {path: set(os.listdir(os.path.dirname(path))) if os.path.isdir(os.path.dirname(path)) else None
                       for path in self.paths}

    def last_state(self):
        """The iteration of the newest training state the experiment holds, or None."""
        states = glob.glob(os.path.join(self.paths[0], 'training_states', '*.state'))
        iterations = [int(n) for n in (os.path.basename(p)[:-len('.state')] for p in states) if n.isdigit()]
        return max(iterations, default=None)

    def undo(self):
        """Remove what the run created and put back what basicsr moved aside for it (NAME_archived_TIME); returns
        the paths removed. A folder that was there before and was not moved aside (a resumed run's) stays."""
        removed = []
        for path, before in self.before.items():
            parent, name = os.path.split(path)
            if before is None and os.path.isdir(parent):
                shutil.rmtree(parent)
                removed.append(parent)
                continue
            new = set(os.listdir(parent)) - before if before is not None and os.path.isdir(parent) else set()
            archived = sorted(n for n in new if n.startswith(f'{name}_archived_'))
            if name in new or archived:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
            if archived:
                os.rename(os.path.join(parent, archived[-1]), path)
        return removed


def one_line(err, debug=False):
    """`err` as one line: the message of an error meant for the user (a ValueError: ours, basicsr's, a network's),
    else its type and first line, pointing at --debug for the traceback."""
    text = str(err).strip()
    if 'Original Traceback' in text:
        # Re-raised from a DataLoader worker: the message ends with the worker's traceback, whose last line is
        # the original error's 'module.Type: message'.
        text = re.sub(r'^[\w.]+: ', '', text.splitlines()[-1])
    line = text.splitlines()[0] if text else ''
    if isinstance(err, KeyboardInterrupt):
        return 'interrupted'
    if isinstance(err, ValueError) and line:
        return line
    return f"{type(err).__name__}{': ' if line else ''}{line}{'' if debug else ' (--debug shows the traceback)'}"


def _failed(prog, command, argv, launcher, folders, err, debug):
    """The one line for a run that failed: after its first training state, where the states are and how to resume;
    before it, with the folders the run created removed (never ones that were there before)."""
    if debug:
        traceback.print_exc()
    message = f'{prog}: error: {one_line(err, debug)}'
    if int(os.environ.get('RANK', 0)) != 0:
        return message  # rank 0 alone writes (and cleans up) the run's folders
    last = folders.last_state() if command == 'train' else None
    if last is not None:
        resume = (shlex.join(['basicsr', command] + [a for a in argv if a != '--auto_resume'] + ['--auto_resume'])
                  if launcher == 'none' else 'the same launch command with --auto_resume')
        return (f'{message} (training states are kept in {os.path.relpath(folders.paths[0])}, the last at iteration '
                f'{last}; resume with: {resume})')
    removed = folders.undo()
    return message + (f" (removed {', '.join(map(os.path.relpath, removed))}: created by this run)" if removed else '')


def _checked_options(prog, command, argv, only):
    """The options the run will use and its launcher, once every check passed (else one line per problem, exit 1)."""
    path, opt, launcher = _check_option_file(prog, argv)
    errors = select_test_sets(opt, only) if only else []
    found = check_options(opt, is_train=command == 'train', launcher=launcher)
    errors += found.errors
    for note in found.notes:
        print(f'{prog}: note: {path}: {note}', file=sys.stderr, flush=True)
    if errors:
        sys.exit(''.join(f'{prog}: error: {path}: {e}\n' for e in errors).rstrip('\n'))
    return opt, launcher


def run(command, argv):
    """Run basicsr's train or test pipeline with `argv` as its command line and the working directory as root."""
    prog = f'basicsr {command}'
    argv = _normalise_local_rank(argv)
    only, argv = _take_only(prog, argv) if command == 'test' else (None, argv)
    imports, argv = take_imports(argv)
    try:
        load_plugins(imports)
    except PluginError as err:
        sys.exit(f'{prog}: error: {err}')
    debug = '--debug' in argv
    folders = launcher = None  # stay None for -h/--help: basicsr's parser prints its help
    settings = RunSettings()
    if not any(a in ('-h', '--help') for a in argv):
        opt, launcher = _checked_options(prog, command, argv, only)
        settings = RunSettings(opt.get('dist_params') or {}, opt.get('num_gpu', 'auto'), only)
        folders = RunFolders(command, opt, debug)
    basicsr_fixes.apply(settings)
    sys.argv = [prog] + argv
    try:
        pipeline = basicsr.train.train_pipeline if command == 'train' else basicsr.test.test_pipeline
        pipeline(os.getcwd())
    except (Exception, KeyboardInterrupt) as err:
        if folders is None:
            raise
        sys.exit(_failed(prog, command, argv, launcher, folders, err, debug))
    finally:
        distributed.shutdown()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog='basicsr',
        description='Train, test or run a BasicSR model with every installed BasicSR plugin (IGAN included).',
        epilog='Options after train and test are basicsr\'s: -opt FILE.yml [--launcher none|pytorch|slurm] '
        '[--auto_resume] [--debug] [--force_yml key:sub=value ...]; test also takes --only NAME (repeatable: run '
        'just the test sets of that name); both take --import MODULE (repeatable) for a plugin that registers on '
        'import and announces no entry point. Outputs go to experiments/, results/ and tb_logger/ under the current '
        'directory; a run that fails before its first training state removes the ones it created. '
        '`basicsr infer -h` lists the options of infer.')
    parser.add_argument('command', choices=COMMANDS,
                        help='train: basicsr train_pipeline; test: test_pipeline; infer: upscale your own images')
    parser.add_argument('args', nargs=argparse.REMAINDER, help='arguments for the subcommand')
    if not argv or argv[0] in ('-h', '--help'):
        parser.print_help()
        return 0 if argv else 2
    ns = parser.parse_args(argv[:1])
    if ns.command == 'infer':
        return infer_command.main(argv[1:])
    run(ns.command, argv[1:])
    return 0


if __name__ == '__main__':
    sys.exit(main())
