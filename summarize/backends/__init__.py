"""Inference backends: the interface (base), in-process llama.cpp, and HTTP servers."""
