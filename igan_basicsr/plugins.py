"""BasicSR plugins: the packages announced under the `basicsr.plugins` entry-point group (this one among them),
and packages that register their networks on import but announce nothing (HAT's `hat`), named with
`--import MODULE`. Every command that builds a network loads both before reading an option file."""
import importlib
from importlib.metadata import entry_points

GROUP = 'basicsr.plugins'
FLAG = '--import'


class PluginError(ImportError):
    """A module named with --import that cannot be imported; the message names it and says what to do."""


def load_plugins(imports=()):
    """Import every announced plugin, then each module of `imports` (each registers itself on import)."""
    modules = [ep.load() for ep in entry_points(group=GROUP)]
    for name in imports:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as err:
            raise PluginError(f'{FLAG} {name}: cannot import it ({err}); install the package that provides it, '
                              'or put its folder on PYTHONPATH.') from None
    return modules


def add_import_argument(parser):
    parser.add_argument(FLAG, dest='imports', action='append', default=[], metavar='MODULE',
                        help='import MODULE first: a plugin that registers its networks on import and announces '
                        'no basicsr.plugins entry point (e.g. --import hat); repeatable')


def import_arguments(imports):
    """`imports` as command-line arguments, for a subprocess that must see the same plugins."""
    return [arg for name in imports for arg in (FLAG, name)]


def take_imports(argv):
    """(the modules named by `--import MODULE` or `--import=MODULE`, the other arguments): basicsr's own parser,
    which reads the rest, knows no --import."""
    imports, rest, argv = [], [], list(argv)
    while argv:
        arg = argv.pop(0)
        if arg == FLAG and argv:
            imports.append(argv.pop(0))
        elif arg.startswith(FLAG + '='):
            imports.append(arg[len(FLAG) + 1:])
        else:
            rest.append(arg)
    return imports, rest
