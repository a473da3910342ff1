import subprocess
import sys


def test_basicsr_data_imports_after_igan_basicsr():
    # basicsr.data.degradations imports torchvision.transforms.functional_tensor, gone since torchvision 0.17.
    code = ('import igan_basicsr, basicsr.data.degradations as d, torch; '
            'print(d.rgb_to_grayscale(torch.ones(1, 3, 2, 2)).shape)')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'torch.Size([1, 1, 2, 2])'
