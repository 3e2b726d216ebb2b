"""The captioner's inference precisions, torch-free so that settings can validate them at start-up.

fp32 is what the model was trained in. bf16 and fp16 run the backbone and the decoder's steps under
torch.autocast while beam search keeps its log-probabilities and scores in fp32 (training/caption.py);
fp16 needs a CUDA device.
"""

PRECISIONS = ("fp32", "bf16", "fp16")
