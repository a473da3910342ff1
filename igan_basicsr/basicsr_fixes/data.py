"""Which sample a batch failed on: basicsr's PairedImageDataset stops on a value that does not decode with
`AttributeError: 'NoneType' object has no attribute 'astype'`, naming neither the key nor the LMDB or file."""
from basicsr.data.paired_image_dataset import PairedImageDataset

from ..prepare.images import undecodable
from .patching import replace


class DataError(ValueError):
    """A training or test sample that cannot be used; the message names its key and LMDB, or its file."""


def _first_line(err):
    text = str(err).strip()
    return f'{type(err).__name__}: {text.splitlines()[0]}' if text else type(err).__name__


def _unreadable(dataset, index):
    """'KEY in LMDB: why' or 'FILE: why' for the image of pair `index` that does not read, else None."""
    lmdb = 'db_paths' in dataset.io_backend_opt
    for side, folder in (('gt', dataset.gt_folder), ('lq', dataset.lq_folder)):
        key = dataset.paths[index][f'{side}_path']
        where = f'{key} in {folder}' if lmdb else key
        try:
            content = dataset.file_client.get(key, side)
        except Exception as err:  # noqa: BLE001 - whatever the backend raises, it is this key's problem
            return f'{where}: cannot be read ({_first_line(err)})'
        if content is None:
            return f'{where}: the LMDB holds no value under this key; rebuild it'
        reason = undecodable(content)
        if reason:
            return (f'{where}: the stored value does not decode as an image ({reason}): the LMDB is damaged; '
                    'rebuild it' if lmdb else f'{where}: the file does not decode as an image ({reason}); replace it')
    return None


def make_getitem(original):

    def __getitem__(self, index):
        try:
            return original(self, index)
        except Exception as err:
            problem = _unreadable(self, index) if self.file_client is not None else None
            if problem is None:
                gt = self.paths[index]['gt_path']
                problem = f'{gt} ({self.gt_folder}, with its LR image from {self.lq_folder}): {_first_line(err)}'
            raise DataError(problem) from err

    return __getitem__


def install():
    replace(PairedImageDataset, '__getitem__', make_getitem)
