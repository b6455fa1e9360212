"""Ship a run's winner: a merged model, an Ollama Modelfile, vLLM commands, GGUF when llama.cpp is here,
and the proof that the export reproduces the run's outputs (``posttrain export``)."""

from harness.export.bundle import ExportRequest, ExportResult, export_run
from harness.export.verify import ExportCheck

__all__ = ["ExportCheck", "ExportRequest", "ExportResult", "export_run"]
