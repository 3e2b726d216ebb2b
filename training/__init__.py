"""Show, Attend and Tell image captioner: model, data, training, inference and evaluation.

Imports stay cheap: nothing heavy is loaded until a function asks for it.
"""
