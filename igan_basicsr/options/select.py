"""`basicsr test --only NAME`: an option file's test sets cut to the ones named."""
from ..suggest import closest


def select_test_sets(opt, names):
    """opt's datasets cut to the test sets named `names`; one line per name that none of them has."""
    datasets = opt.get('datasets') or {}
    have = [ds.get('name') for ds in datasets.values() if isinstance(ds, dict)]
    errors = []
    for name in names:
        if name not in have:
            close = closest(name, have)
            hint = f'did you mean {close}?' if close else f"it has {', '.join(map(str, have))}."
            errors.append(f'--only {name}: the option file has no test set named {name}; {hint}')
    opt['datasets'] = {phase: ds for phase, ds in datasets.items() if isinstance(ds, dict) and ds.get('name') in names}
    return errors
