"""The package's import rule (docs/development.md): entry points -> features -> helpers, one way, no cycles, and no
import inside a function that would hide one."""
import ast
import os
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter

from conftest import REPO

PACKAGE = 'igan_basicsr'
ENTRY_POINTS = {'cli', 'train', 'test', 'demo'}
HELPERS = {'atomic', 'checkpoints', 'compat', 'suggest'}


def modules():
    """{dotted module name: path} of every module of the package."""
    found = {}
    for folder, _, files in os.walk(os.path.join(REPO, PACKAGE)):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, REPO)[:-len('.py')].split(os.sep)
                found['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
    return found


def _target(module, path, node):
    """The package module an import statement names, or None for one outside the package."""
    if node.level:
        base = module.split('.') if path.endswith('__init__.py') else module.split('.')[:-1]
        base = base[:len(base) - node.level + 1]
        return '.'.join(base + ([node.module] if node.module else []))
    return node.module if node.module and node.module.split('.')[0] == PACKAGE else None


def imports(module, path):
    """[(imported package module, whether the import sits inside a function)] of one module."""
    tree = ast.parse(open(path).read())
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
              for n in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _target(module, path, node)
            if target:
                names = [f'{target}.{a.name}' for a in node.names]
                found += [(name if name in modules() else target, id(node) in nested) for name in names]
        elif isinstance(node, ast.Import):
            found += [(a.name, id(node) in nested) for a in node.names if a.name.split('.')[0] == PACKAGE]
    return found


def unit(module):
    """What the rule is stated for: the package's top-level module or subpackage a module belongs to."""
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else PACKAGE


def graph():
    return {module: imports(module, path) for module, path in modules().items()}


def test_the_modules_import_each_other_without_a_cycle():
    edges = {module: {target for target, _ in found if target != module} for module, found in graph().items()}
    try:
        list(TopologicalSorter(edges).static_order())
    except CycleError as err:
        raise AssertionError(f'import cycle: {" -> ".join(err.args[1])}') from None


def test_features_import_no_entry_point_and_helpers_import_no_feature():
    wrong = []
    for module, found in graph().items():
        for target, _ in found:
            source, imported = unit(module), unit(target)
            if source in ENTRY_POINTS or source == imported or imported == PACKAGE:
                continue
            if imported in ENTRY_POINTS or (source in HELPERS and imported not in HELPERS):
                wrong.append(f'{module} imports {target}')
    assert wrong == []


def test_the_subpackages_depend_on_each_other_one_way():
    edges = {}
    for module, found in graph().items():
        others = {unit(target) for target, _ in found} - {unit(module), PACKAGE}
        edges.setdefault(unit(module), set()).update(others)
    try:
        order = list(TopologicalSorter(edges).static_order())
    except CycleError as err:
        raise AssertionError(f'subpackages import each other: {" -> ".join(err.args[1])}') from None
    # The order the rule gives, as docs/development.md draws it.
    assert order.index('archs') < order.index('models') < order.index('options') < order.index('basicsr_fixes')
    assert order.index('options') < order.index('infer') < order.index('cli')


def test_no_function_imports_a_module_of_the_package():
    inside = [f'{module} imports {target}' for module, found in graph().items() for target, nested in found if nested]
    assert inside == []


def test_importing_the_options_package_loads_no_basicsr_fix_and_changes_no_basicsr_function():
    code = ('import sys\nimport igan_basicsr.options\nimport basicsr.train, basicsr.utils.options as o\n'
            "print(sorted(m for m in sys.modules if m.startswith('igan_basicsr.basicsr_fixes')), "
            "basicsr.train.parse_options.__module__, o.init_dist.__module__)")
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '[] basicsr.utils.options basicsr.utils.dist_util'
