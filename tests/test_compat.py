import subprocess
import sys


def test_basicsr_data_imports_after_igan_basicsr():
    # basicsr.data.degradations imports torchvision.transforms.functional_tensor, gone since torchvision 0.17.
    code = ('import igan_basicsr, basicsr.data.degradations as d, torch; '
            'print(d.rgb_to_grayscale(torch.ones(1, 3, 2, 2)).shape)')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'torch.Size([1, 1, 2, 2])'


# Every basicsr function that igan_basicsr.basicsr_fixes replaces, as 'module:attribute'.
REPLACED = ('basicsr.utils.options:init_dist', 'basicsr.models.base_model:BaseModel.model_to_device',
            'basicsr.models.sr_model:SRModel.dist_validation', 'basicsr.train:load_resume_state',
            'basicsr.train:EnlargedSampler', 'basicsr.train:create_train_val_dataloader',
            'basicsr.models.base_model:BaseModel.save_training_state',
            'basicsr.models.base_model:BaseModel.resume_training', 'basicsr.models.base_model:BaseModel.validation',
            'basicsr.train:parse_options', 'basicsr.test:parse_options',
            'basicsr.data.paired_image_dataset:PairedImageDataset.__getitem__')


def test_import_changes_no_basicsr_function_and_the_entry_points_apply_the_fixes():
    # A fresh interpreter: whether basicsr's functions are its own depends on what ran before in this one.
    code = f'''
import importlib
import igan_basicsr, basicsr.train, basicsr.test
def resolve(name):
    module, attr = name.split(':')
    obj = importlib.import_module(module)
    for part in attr.split('.'):
        obj = getattr(obj, part)
    return obj
names = {REPLACED!r}
before = {{n: resolve(n) for n in names}}
print(sorted(n for n in names if resolve(n).__module__.startswith('igan_basicsr')))
from igan_basicsr import basicsr_fixes
basicsr_fixes.apply()
print(sorted(n for n in names if resolve(n) is before[n]))
'''
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    untouched_on_import, unchanged_by_apply = proc.stdout.strip().splitlines()
    assert untouched_on_import == '[]'
    assert unchanged_by_apply == '[]'
