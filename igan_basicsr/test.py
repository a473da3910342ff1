"""`python -m igan_basicsr.test -opt FILE.yml ...`, the same as `basicsr test -opt FILE.yml ...`."""
import sys

from .cli import run

if __name__ == '__main__':
    run('test', sys.argv[1:])
