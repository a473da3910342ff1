"""torchrun entry for the DDP tests: `basicsr train` through our command, then every rank saves the
parameters it ended with, so the test can compare ranks.

    torchrun ... tests/ddp_train_and_dump.py DUMP_DIR -opt FILE.yml --launcher pytorch
"""
import os
import sys

import basicsr.train
import torch

import igan_basicsr  # noqa: F401
from igan_basicsr.cli import run

models = []
build_model = basicsr.train.build_model


def build_and_keep(opt):
    models.append(build_model(opt))
    return models[-1]


if __name__ == '__main__':
    basicsr.train.build_model = build_and_keep
    dump_dir = sys.argv[1]
    run('train', sys.argv[2:])
    model = models[0]
    torch.save(model.get_bare_model(model.net_g).state_dict(),
               os.path.join(dump_dir, f"rank{os.environ['RANK']}.pth"))
