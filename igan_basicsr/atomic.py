"""Files and folders written whole or not at all: each is built under NAME.partial and renamed to NAME only
once complete, so anything under its final name is whole, and an earlier version stays readable until its
successor is in place. An interrupted run leaves only NAME.partial, which the next run removes."""
import contextlib
import os
import shutil

PARTIAL = '.partial'
# A folder being replaced is moved aside under this name for the instant between two renames, then deleted.
REPLACED = '.replaced'


@contextlib.contextmanager
def replacing(path):
    """A temporary name to write the file `path` under, moved onto `path` only once the writing succeeded."""
    partial_path = partial(path)
    try:
        yield partial_path
        os.replace(partial_path, path)
    finally:
        if os.path.exists(partial_path):
            os.remove(partial_path)


def partial(path):
    return os.fspath(path) + PARTIAL


def claim(paths, overwrite, error=FileExistsError):
    """Refuse existing output folders unless `overwrite` (raising `error`); clear what interrupted runs left."""
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not overwrite:
        raise error(f'{", ".join(existing)} already exist{"s" if len(existing) == 1 else ""}: '
                    'pass --overwrite to replace, or choose another output folder')
    for path in paths:
        for leftover in (partial(path), path + REPLACED):
            if os.path.exists(leftover):
                print(f'removing {leftover}, left by an interrupted run', flush=True)
                shutil.rmtree(leftover)


def publish(path):
    """Move the finished folder `path`.partial into place, replacing `path` if it exists."""
    if os.path.exists(path):
        os.rename(path, path + REPLACED)
        os.rename(partial(path), path)
        shutil.rmtree(path + REPLACED)
    else:
        os.rename(partial(path), path)


def discard(path):
    shutil.rmtree(partial(path), ignore_errors=True)
