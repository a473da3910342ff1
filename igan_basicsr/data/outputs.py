"""Output folders built as NAME.partial and renamed to NAME only once complete and checked.

A folder with its final name is therefore always whole; an interrupted run leaves only NAME.partial, which the
next run removes and rebuilds. A folder being replaced stays readable until its successor is in place.
"""
import os
import shutil

from ..files import PARTIAL
from .errors import PrepareError

# The old folder is moved aside under this name for the instant between two renames, then deleted.
REPLACED = '.replaced'


def partial(path):
    return path + PARTIAL


def claim(paths, overwrite):
    """Refuse existing outputs unless `overwrite`; clear what interrupted runs left behind."""
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not overwrite:
        raise PrepareError(f'{", ".join(existing)} already exist{"s" if len(existing) == 1 else ""}: '
                           'pass --overwrite to replace, or choose another output folder')
    for path in paths:
        for leftover in (partial(path), path + REPLACED):
            if os.path.exists(leftover):
                print(f'removing {leftover}, left by an interrupted run', flush=True)
                shutil.rmtree(leftover)


def check_free_space(folder, needed_bytes):
    free = shutil.disk_usage(folder).free
    print(f'expected output size about {needed_bytes / 1e9:.2f} GB; {free / 1e9:.1f} GB free in {folder}', flush=True)
    if free < needed_bytes:
        raise PrepareError(f'{folder} has {free / 1e9:.2f} GB free but the output needs about '
                           f'{needed_bytes / 1e9:.2f} GB: free some space or write elsewhere')


def publish(path):
    """Move the finished `path`.partial into place, replacing `path` if it exists."""
    if os.path.exists(path):
        os.rename(path, path + REPLACED)
        os.rename(partial(path), path)
        shutil.rmtree(path + REPLACED)
    else:
        os.rename(partial(path), path)


def discard(path):
    shutil.rmtree(partial(path), ignore_errors=True)
