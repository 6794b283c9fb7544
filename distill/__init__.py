"""Distillation: small student forecasters from a TSFM teacher, ONNX export and a torch-free edge runtime."""
