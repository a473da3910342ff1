import re

from setuptools import find_packages, setup

with open('igan_basicsr/__init__.py', encoding='utf-8') as f:
    VERSION = re.search(r"^__version__ = '([^']+)'$", f.read(), re.M)[1]

setup(
    name='igan-basicsr',
    version=VERSION,
    description='IGAN (Information-Growth Attention Network, ACM MM 2021) for super-resolution as a BasicSR plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['igan_basicsr', 'igan_basicsr.*']),
    python_requires='>=3.10',
    install_requires=[
        'basicsr>=1.4.2,<1.5',
        # 2.6: torch.compiler.set_stance, and torch.load reading weights only by default (basicsr's loader of the
        # peers' checkpoints names no weights_only).
        'torch>=2.6',
        'torchvision>=0.21',
        'numpy>=1.24',
        'opencv-python>=4.7',
        'lmdb>=1.4',
        'tensorboard>=2.10',
        'scikit-image>=0.20',
        'tqdm>=4.60',
        'pyyaml>=6.0',
        'matplotlib>=3.6',
        'pillow>=9',
    ],
    # onnx: scripts/deployment/export_onnx.py and `basicsr infer --onnx`; safetensors: .safetensors checkpoints;
    # spandrel: IGAN in chaiNNer and ComfyUI (igan_basicsr.spandrel_arch). In the test extra too, so CI covers them.
    extras_require={'test': ['pytest>=7', 'pytest-xdist>=3', 'ruff>=0.6', 'onnx>=1.16', 'onnxruntime>=1.18',
                             'safetensors>=0.4', 'spandrel>=0.4,<0.5'],
                    'onnx': ['onnx>=1.16', 'onnxruntime>=1.18'],
                    'safetensors': ['safetensors>=0.4'],
                    'spandrel': ['spandrel>=0.4,<0.5', 'safetensors>=0.4']},
    entry_points={
        'console_scripts': ['basicsr = igan_basicsr.cli:main'],
        'basicsr.plugins': ['igan = igan_basicsr'],
    },
    license='Apache License 2.0',
)
