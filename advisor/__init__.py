"""The decision advisor: questions as data, a pure recommendation engine, and its CLI.

Imports nothing heavy (no torch, transformers, trl, peft, chromadb, lm_eval).
"""
