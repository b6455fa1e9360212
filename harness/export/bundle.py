"""``export_run(ExportRequest) -> ExportResult``: a run's winner as files you can serve, with the proof.

DIR/
  merged/            the base model with the adapter folded in (safetensors, tokenizer, chat
                     template, generation_config.json): ``transformers`` alone loads it
  adapter/           the LoRA adapter alone, for serving base + LoRA
  Modelfile          Ollama (not run here)
  serve/             request.json and client.py: an OpenAI-compatible request (vLLM, Ollama, transformers serve)
  rag/               tuned_rag only: the index copy and its settings
  model.gguf         when llama.cpp's converter is on this machine
  check/             the exported model's own eval results
  README.md          all of the above, with the commands
  export.json        what was written and the check's outcome (written last: its presence means complete)
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.export.merge import MergedModel
from harness.export.source import RESULTS, RunSource, open_run_source
from harness.export.verify import EXACT_DTYPE, ExportCheck, check_export
from posttrain.errors import BadInput

DTYPES = ("float32", "bfloat16", "float16")
EXPORT_FILE = "export.json"


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: str = Field(description="A run folder (EXP/runs/latest, EXP/runs/<id>) or an experiment folder.")
    out: str = Field(description="The folder to write; must be new or empty unless force.")
    variant: str = Field("tuned", description="tuned, or tuned_rag (the model plus the run's retrieval).")
    method: str | None = Field(None, description="Which trained adapter; by default the plan's last policy.")
    check_rows: int | None = Field(None, ge=1, description="Compare only the first N rows of each eval set.")
    dtype: str | None = Field(None, description="Weights dtype of the merged model; by default the run's eval dtype.")
    force: bool = Field(False, description="Replace a non-empty out folder: everything in it is deleted.")


class ExportResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_dir: str
    out: str
    name: str = Field(description="The served-model name used in the commands.")
    method: str
    variant: str
    weights: str = Field(description="adapter (merged into the base here) or model (a full model, shipped as is).")
    base_model: str
    adapter: str | None = Field(description="The adapter alone (absent when the run's weights are a full model).")
    dtype: str
    merged: str
    merged_bytes: int
    adapted_matrices: int = Field(description="LoRA matrices with a non-zero update that were folded in.")
    max_new_tokens: int
    eos_token: str | None
    system_prompt: str | None
    stop: list[str]
    ollama: dict[str, Any]
    vllm: dict[str, str]
    request: dict[str, Any]
    expected_reply: str | None = Field(description="The run's recorded answer to the example request.")
    eval_commands: dict[str, list[str]] = Field(description="`posttrain eval` on the export, per eval set.")
    gguf: dict[str, Any]
    rag: dict[str, Any] | None
    check: ExportCheck
    wall_s: float
    size_bytes: int


def _protected(source: RunSource, emptied: bool) -> list[tuple[str, Path]]:
    """Folders ``--out`` may neither be nor hold: the run's own, and (when --force would empty it) yours."""
    protected = [
        ("the experiment folder", source.exp_dir),
        ("the run folder", source.run_dir),
        ("the adapter", source.adapter),
        ("the base model", source.base_model),
    ]
    if emptied:
        protected += [("your home folder", Path.home()), ("the current folder", Path.cwd())]
    return protected


def prepare_out(out: Path, source: RunSource, force: bool) -> Path:
    """Check ``--out`` and, with ``force``, empty it; never touches anything outside it."""
    if out.is_symlink():
        raise BadInput(f"--out {out}: is a symbolic link; give a real folder")
    target = out.expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise BadInput(f"--out {out}: is a file; give a folder")
    occupied = target.is_dir() and any(target.iterdir())
    for what, path in _protected(source, emptied=occupied):
        path = path.resolve()
        if target == path or target in path.parents:
            raise BadInput(f"--out {out}: is or holds {what} ({path}); choose a folder outside it")
    if occupied:
        if not force:
            raise BadInput(
                f"--out {out}: exists and is not empty; choose a new folder, or pass --force to replace it "
                "(everything in it is deleted)"
            )
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    return target


def _example(source: RunSource, retriever: Any) -> tuple[list[dict[str, str]], str | None]:
    """The first row of the first eval set, as the run sent it, and the run's recorded answer to it."""
    from harness.data.formats import eval_messages, load_dataset
    from harness.evaluation.prompting import add_context, build_conversation

    spec = source.config.evals[0]
    row = load_dataset(str(source.data_path(spec.path)), "eval", columns=spec.columns, split=spec.split)[0]
    messages = eval_messages(row)
    if retriever is not None:
        messages = add_context([messages], retriever, source.config.baselines.rag.top_k)[0][0]
    conversation = build_conversation(messages, source.config.baselines.system_prompt)
    row_id = str(row["id"]) if row.get("id") is not None else "0"
    recorded = (source.eval_dir(spec.name) / RESULTS).read_text(encoding="utf-8").splitlines()
    answer = next((json.loads(r)["output"] for r in recorded if r.strip() and str(json.loads(r)["id"]) == row_id), None)
    return conversation, answer


def _eval_commands(
    source: RunSource, merged: Path, rag_index: str | None, check_rows: int | None
) -> dict[str, list[str]]:
    """``posttrain eval`` on the merged folder with the tuned stage's settings, one per eval set."""
    config = source.config
    commands = {}
    for spec in config.evals:
        argv = ["posttrain", "eval", "--model", str(merged), "--data", str(source.data_path(spec.path))]
        argv += ["--metrics", ",".join(spec.metrics), "--max-new-tokens", str(spec.max_new_tokens)]
        if spec.columns:  # evals[].columns, as the run read the set
            argv += ["--columns", ",".join(f"{target}={source}" for target, source in spec.columns.items())]
        if spec.split:
            argv += ["--split", spec.split]
        if config.baselines.system_prompt:
            argv += ["--system-prompt", config.baselines.system_prompt]
        limit = min(x for x in (spec.limit, check_rows) if x) if (spec.limit or check_rows) else None
        if limit:
            argv += ["--limit", str(limit)]
        if rag_index and "://" not in rag_index:  # a Chroma server's index is not a folder --rag can open
            argv += ["--rag", rag_index, "--top-k", str(config.baselines.rag.top_k)]
        commands[spec.name] = argv
    return commands


def _folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _serve_base(source: RunSource) -> str:
    """The base model for ``vllm serve``: a hub id as the config names it, else the local folder."""
    spec = source.config.model
    is_hub_id = spec.count("/") == 1 and not Path(spec).expanduser().exists() and not spec.startswith((".", "/"))
    return spec if is_hub_id else str(source.base_model)


def _write_serving(out: Path, source: RunSource, merged: MergedModel, retriever: Any) -> dict[str, Any]:
    """Modelfile, vLLM commands and serve/ (request.json, client.py): the fields they give the result."""
    from transformers import AutoTokenizer

    from harness.export.merge import lora_rank
    from harness.export.modelfile import TemplateNotConvertible, chat_format, go_template, stop_strings
    from harness.export.render import render_modelfile
    from harness.export.serving import chat_request, client_script, model_name, vllm_commands

    config = source.config
    tokenizer = AutoTokenizer.from_pretrained(merged.path)  # the shipped tokenizer, not the base's
    try:
        fmt, template_note = chat_format(tokenizer), ""
    except TemplateNotConvertible as error:
        fmt, template_note = None, str(error)
    stops = stop_strings(fmt, merged.eos_token)
    name = model_name(config.name, source.method)
    template = go_template(fmt) if fmt else None
    modelfile = render_modelfile(
        source=source, name=name, template=template, template_note=template_note, stops=stops,
        max_new_tokens=merged.max_new_tokens,
    )  # fmt: skip
    (out / "Modelfile").write_text(modelfile, encoding="utf-8")
    vllm = vllm_commands(
        merged="./merged", base=_serve_base(source), adapter="./adapter", name=name,
        rank=0 if source.full_model else lora_rank(source.adapter), dtype=merged.dtype, max_model_len=None,
    )  # fmt: skip
    if source.full_model:
        vllm.pop("lora")  # a full model has no adapter to serve on a base
    messages, expected = _example(source, retriever)
    body = chat_request(name, messages, config.evals[0].max_new_tokens, None)
    (out / "serve").mkdir()
    (out / "serve" / "request.json").write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (out / "serve" / "client.py").write_text(client_script(body), encoding="utf-8")
    ollama = {
        "template": template,
        "template_note": template_note,
        "create": f"ollama create {name} -f Modelfile",
        "run": f"ollama run {name}",
    }
    return {"name": name, "stop": stops, "ollama": ollama, "vllm": vllm, "request": body, "expected_reply": expected}


def export_run(request: ExportRequest, say: Any = print) -> ExportResult:
    """Merge, describe and check the run's adapter into ``request.out``; the check's outcome is in the result."""
    from harness.export.merge import copy_adapter, merge_adapter
    from harness.export.render import render_readme
    from harness.export.serving import convert_to_gguf

    if request.dtype is not None and request.dtype not in DTYPES:
        raise BadInput(f"--dtype {request.dtype}: use one of {', '.join(DTYPES)}")
    started = time.perf_counter()
    source = open_run_source(Path(request.run), request.variant, request.method)
    dtype = request.dtype or source.recorded_dtype or EXACT_DTYPE
    if dtype not in DTYPES:  # a run evaluated in some other dtype: ship float32; the check says how close it is
        dtype = EXACT_DTYPE
    out = prepare_out(Path(request.out), source, request.force)
    config = source.config
    what = f"the model {source.adapter}" if source.full_model else f"the {source.method} adapter into {config.model}"
    say(f"merging {what} ({dtype})")
    max_new = max(spec.max_new_tokens for spec in config.evals)
    merged = merge_adapter(source.base_model, source.adapter, out / "merged", dtype=dtype, max_new_tokens=max_new)
    adapter_copy = None if source.full_model else copy_adapter(source.adapter, out / "adapter")
    rag = retriever = retriever_id = None
    if source.variant == "tuned_rag":
        from harness.export.rag import ship_index

        say("copying the retrieval index")
        rag, retriever, retriever_id = ship_index(source, out / "rag" / "index")
    say(f"checking the export against the run's {source.variant} outputs")
    check = check_export(
        source, merged.path, out / "check", dtype=dtype, check_rows=request.check_rows, retriever=retriever,
        retriever_id=retriever_id,
    )  # fmt: skip
    serving = _write_serving(out, source, merged, retriever)
    gguf = convert_to_gguf(merged.path, out / "model.gguf")
    result = ExportResult(
        run_dir=str(source.run_dir),
        out=str(out),
        method=source.method,
        variant=source.variant,
        weights="model" if source.full_model else "adapter",
        base_model=str(source.base_model),
        adapter=str(adapter_copy) if adapter_copy else None,
        dtype=dtype,
        merged=str(merged.path),
        merged_bytes=merged.size_bytes,
        adapted_matrices=merged.changed_tensors,
        max_new_tokens=max_new,
        eos_token=merged.eos_token,
        system_prompt=config.baselines.system_prompt,
        eval_commands=_eval_commands(source, merged.path, rag.index if rag else None, request.check_rows),
        gguf=gguf.__dict__,
        rag=rag.to_dict() if rag is not None else None,
        check=check,
        wall_s=0.0,
        size_bytes=0,
        **serving,
    )
    (out / "README.md").write_text(render_readme(result, source), encoding="utf-8")
    result.wall_s = round(time.perf_counter() - started, 1)
    result.size_bytes = _folder_size(out)
    (out / EXPORT_FILE).write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return result
