"""Fine-tuning pipeline for the embedded Gemma 3 270M model (see training/README.md).

Not part of the installed package: run from a checkout, one module per step
(``python -m training.<step>``). Steps that need torch import it lazily, so the pure
GGUF parts (name mapping, dequantization, adapter export) are testable without it.
"""
