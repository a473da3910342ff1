"""`python -m igan_basicsr.train -opt FILE.yml ...`, the same as `basicsr train -opt FILE.yml ...`."""
import sys

from .cli import run

if __name__ == '__main__':
    run('train', sys.argv[1:])
