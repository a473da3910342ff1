"""Files written whole or not at all."""
import contextlib
import os

# The suffix of what is being written, files here and folders in data/outputs.py.
PARTIAL = '.partial'


@contextlib.contextmanager
def replacing(path):
    """A temporary name to write `path` under, moved onto `path` only once the writing succeeded: a file under its
    final name is always whole, and an earlier one stays readable until its successor is complete."""
    partial = f'{path}{PARTIAL}'
    try:
        yield partial
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
