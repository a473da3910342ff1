"""basicsr's parse_options, then what the `basicsr` command checked the options with.

basicsr reads the option file itself, after the command has checked it: numbers are read as numbers here too
(YAML 1.1 reads 5e-4 as a string, which Adam refuses only once training starts; see igan_basicsr/options.py),
`basicsr test --only NAME` keeps the named test sets, and test folders holding files that are not images are read
through a list of their image pairs.
"""
# The test set names `basicsr test --only` keeps (None: every one), set by the command before the pipeline runs.
only = None


def make_parse_options(original):

    def parse_options(root_path, is_train=True):
        from .. import options  # here: igan_basicsr.options imports this package
        opt, args = original(root_path, is_train)
        options.normalise_numbers(opt)
        if only is not None:
            options.select_test_sets(opt, only)
        for dataset in opt['datasets'].values():
            options.use_paired_images(dataset)
        return opt, args

    return parse_options


def install():
    import basicsr.test
    import basicsr.train
    basicsr.train.parse_options = make_parse_options(basicsr.train.parse_options)
    basicsr.test.parse_options = make_parse_options(basicsr.test.parse_options)
