"""`basicsr infer`: upscaling people's own images. command.py reads the arguments and runs the images; engines.py
builds what turns an LR batch into an SR one (an IGAN checkpoint, an option file's network, an ONNX model);
upscaler.py takes one picture through it (grey, padding, tiles, fp16 fallback, alpha); image_io.py reads and
writes the files; memory.py sizes the tiles; onnx_export.py writes the ONNX models."""
