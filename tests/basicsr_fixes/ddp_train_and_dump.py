"""torchrun entry for the DDP tests: `basicsr train` through our command, then every rank saves the
parameters it ended with, so the test can compare ranks.

    torchrun ... tests/basicsr_fixes/ddp_train_and_dump.py DUMP_DIR -opt FILE.yml --launcher pytorch
"""
import os
import sys

import torch

from igan_basicsr.cli import run  # igan_basicsr first: its torchvision shim lets basicsr import


def main(dump_dir, argv):
    import basicsr.train

    models = []
    build_model = basicsr.train.build_model

    def build_and_keep(opt):
        models.append(build_model(opt))
        return models[-1]

    basicsr.train.build_model = build_and_keep
    run('train', argv)
    model = models[0]
    torch.save(model.get_bare_model(model.net_g).state_dict(),
               os.path.join(dump_dir, f"rank{os.environ['RANK']}.pth"))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2:])
