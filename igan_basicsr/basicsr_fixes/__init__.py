"""Fixes to basicsr 1.4.2's trainer, applied by this package's entry points (`basicsr train|test`,
`python -m igan_basicsr.train|test`) and never by `import igan_basicsr`.

Every basicsr function replaced, and why:

distributed.py (torch.distributed):
    basicsr.utils.options.init_dist   maps GPUs by global RANK (wrong on every node but the first), always uses
                                      NCCL (no CPU training, dist_params ignored), fails with no GPU visible.
    BaseModel.model_to_device         gives DDP CUDA device ids in CPU processes.
    SRModel.dist_validation           validates through DDP on rank 0 alone, starting a buffer broadcast that the
                                      other ranks never join (a hang).
resume.py (exact resume):
    basicsr.train.load_resume_state   calls torch.cuda.current_device() (fails on CPU), searches states relative
                                      to the working directory and dies on a truncated state; ours takes the
                                      newest intact one under the experiment, and loads its networks from the
                                      files of the checkpoint format (.pth or .safetensors) the run saves.
    basicsr.train.EnlargedSampler     restarts an interrupted epoch from its first batch; ours skips the batches
                                      already trained.
    basicsr.train.create_train_val_dataloader
                                      counts epochs as if the dropped last partial batch trained, so training
                                      stopped short of total_iter.
    BaseModel.save_training_state     saves no RNG state and no fp16 grad scaler, and writes in place (a crash
                                      mid-write leaves a truncated state); ours adds both and writes atomically.
    BaseModel.resume_training         restores neither; ours does.
validation.py:
    BaseModel.validation              validates again after the training loop, at total_iter + 2; ours validates
                                      each iteration once, never past total_iter.
parsing.py:
    basicsr.train/test.parse_options  read the option file again, after the command checked it; ours then reads
                                      numbers as the check did (5e-4 as a number), keeps `--only` test sets and
                                      lists the image pairs of test folders that hold other files.
data.py:
    PairedImageDataset.__getitem__    fails on an image that does not decode with an AttributeError naming nothing;
                                      ours names the key and LMDB (or the file).
"""
from typing import NamedTuple

from . import data, distributed, parsing, resume, validation


class RunSettings(NamedTuple):
    """What the `basicsr` command read before the pipeline runs, for the replacements to use.

    dist_params, num_gpu: the option file's (basicsr calls init_dist without them under --launcher pytorch).
    only: the test set names of `basicsr test --only NAME` (None: every one).
    """
    dist_params: dict = {}
    num_gpu: object = 'auto'
    only: list | None = None


def apply(settings=RunSettings()):
    """Install every replacement above for a run with `settings`. A later call (another run in the same process)
    installs them afresh for its own settings, each made from basicsr's function again (patching.py)."""
    distributed.install(settings.dist_params, settings.num_gpu)
    resume.install()
    validation.install()
    parsing.install(settings.only)
    data.install()
