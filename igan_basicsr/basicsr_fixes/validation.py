"""One validation per iteration, none past total_iter: basicsr 1.4.2's training loop counts past the end before it
stops (to total_iter + 2) and then validates once more, a second point for the last iteration, plotted at a step
that was never trained."""
from basicsr.models.base_model import BaseModel

from .patching import replace


def make_validation(original):

    def validation(self, dataloader, current_iter, tb_logger, save_img=False):
        """BaseModel.validation at min(current_iter, total_iter), skipped where that iteration was validated."""
        if self.opt['is_train'] and isinstance(current_iter, int):
            current_iter = min(current_iter, int(self.opt['train']['total_iter']))
            done = self.__dict__.setdefault('_validated_at', set())
            if (id(dataloader), current_iter) in done:
                return None
            done.add((id(dataloader), current_iter))
        return original(self, dataloader, current_iter, tb_logger, save_img)

    return validation


def install():
    replace(BaseModel, 'validation', make_validation)
