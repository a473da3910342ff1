"""A ComfyUI custom node folder that makes IGAN checkpoints load in ComfyUI's "Load Upscale Model" node: copy this
folder to ComfyUI/custom_nodes/ in an environment where `pip install 'igan-basicsr[spandrel]'` was run. ComfyUI
loads upscale models with spandrel; this adds IGAN to spandrel's registry when ComfyUI starts. It adds no node."""
from igan_basicsr.spandrel_arch import install

install(ignore_duplicates=True)

NODE_CLASS_MAPPINGS = {}
NODE_DISPLAY_NAME_MAPPINGS = {}
