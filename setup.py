from setuptools import find_packages, setup

setup(
    name='igan-basicsr',
    version='0.1.0',
    description='IGAN (Information-Growth Attention Network, ACM MM 2021) for super-resolution as a BasicSR plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['igan_basicsr', 'igan_basicsr.*']),
    python_requires='>=3.9',
    install_requires=[
        'basicsr>=1.4.2,<1.5',
        'torch>=2.1',
        'torchvision>=0.16',
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
    extras_require={'test': ['pytest>=7']},
    entry_points={
        'console_scripts': ['basicsr = igan_basicsr.cli:main'],
        'basicsr.plugins': ['igan = igan_basicsr'],
    },
    license='Apache License 2.0',
)
