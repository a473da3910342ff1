"""Option files: read (files), their numbers as basicsr computes with them (numbers), the keys basicsr reads
(keys), sections against what basicsr calls with them (arguments), the data they name (data), the distributed
backend (backend), `--only` test sets (select), and the whole check before a run (check)."""
from .backend import BACKENDS, choose_backend
from .check import check_options
from .data import Findings, use_paired_images
from .files import OptionError, check_model_options, load_model_options, load_options, read_option_file
from .numbers import normalise_numbers
from .select import select_test_sets

__all__ = ['BACKENDS', 'Findings', 'OptionError', 'check_model_options', 'check_options', 'choose_backend',
           'load_model_options', 'load_options', 'normalise_numbers', 'read_option_file', 'select_test_sets',
           'use_paired_images']
