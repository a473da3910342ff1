"""basicsr's parse_options, then what the `basicsr` command checked the options with.

basicsr reads the option file itself, after the command has checked it: numbers are read as numbers here too
(YAML 1.1 reads 5e-4 as a string, which Adam refuses only once training starts; see igan_basicsr/options/
numbers.py), `basicsr test --only NAME` keeps the named test sets, and test folders holding files that are not
images are read through a list of their image pairs.
"""
import basicsr.test
import basicsr.train

from ..options import normalise_numbers, select_test_sets, use_paired_images
from .patching import replace


def make_parse_options(original, only):
    """`original` (basicsr's parse_options), then the checks' readings; `only`: the test set names `basicsr test
    --only` keeps (None: every one)."""

    def parse_options(root_path, is_train=True):
        opt, args = original(root_path, is_train)
        normalise_numbers(opt)
        if only is not None:
            select_test_sets(opt, only)
        for dataset in opt['datasets'].values():
            use_paired_images(dataset)
        return opt, args

    return parse_options


def install(only):
    for pipeline in (basicsr.train, basicsr.test):
        replace(pipeline, 'parse_options', lambda original: make_parse_options(original, only))
