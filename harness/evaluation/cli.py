"""``posttrain eval``: score a model (optionally with an adapter, k-shot or RAG) or given predictions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from harness.evaluation.sandbox_modes import ALLOW_HELP

if TYPE_CHECKING:
    from harness.evaluation.runner import EvalSummary


def _split(values: list[str] | None) -> list[str]:
    """``--metrics a,b --metrics c`` → [a, b, c]."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def eval_command(
    data: Annotated[str, typer.Option("--data", help="Eval set: JSONL/JSON/CSV/Parquet rows with prompt, reference.")],
    model: Annotated[str, typer.Option("--model", help="'smollm2-135m', a model dir or a hub id.")] = "smollm2-135m",
    adapter: Annotated[str | None, typer.Option("--adapter", help="A PEFT adapter directory.")] = None,
    metrics: Annotated[
        list[str] | None, typer.Option("--metrics", help="Metric names, comma-separated or repeated.")
    ] = None,
    predictions: Annotated[
        str | None, typer.Option("--predictions", help="Score these {id, output} rows instead of running a model.")
    ] = None,
    rag: Annotated[
        str | None, typer.Option("--rag", help="Knowledge documents (or a built store) to retrieve from.")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Chunks retrieved per question.")] = 3,
    chroma_url: Annotated[str | None, typer.Option("--chroma-url", help="A Chroma server for --rag.")] = None,
    system_prompt: Annotated[str | None, typer.Option("--system-prompt", help="System prompt.")] = None,
    few_shot: Annotated[int, typer.Option("--few-shot", help="k examples from --train before each question.")] = 0,
    train: Annotated[str | None, typer.Option("--train", help="Training data for --few-shot examples.")] = None,
    columns: Annotated[
        str | None,
        typer.Option("--columns", help="Map eval columns first: TARGET=SOURCE, e.g. prompt=question,reference=answer."),
    ] = None,
    split: Annotated[str | None, typer.Option("--split", help="Split of a DatasetDict folder of eval rows.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N rows.")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Longest answer in tokens.")] = 128,
    stop: Annotated[list[str] | None, typer.Option("--stop", help="Stop sequence (repeatable).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Rows per batch (default: fits).")] = None,
    backend: Annotated[str, typer.Option("--backend", help="hf, vllm (CUDA) or auto.")] = "hf",
    device: Annotated[
        str, typer.Option("--device", help="auto (CUDA when present, else CPU), cpu, cuda or mps.")
    ] = "auto",
    precision: Annotated[
        str,
        typer.Option(
            "--precision", help="auto (bf16 on CUDA where supported, else fp16; fp32 on CPU), fp32, bf16, fp16."
        ),
    ] = "auto",
    judge_model: Annotated[str | None, typer.Option("--judge-model", help="Judge: a local model.")] = None,
    judge_url: Annotated[str | None, typer.Option("--judge-url", help="Judge: an OpenAI-compatible URL.")] = None,
    judge_rubric: Annotated[str | None, typer.Option("--judge-rubric", help="Judge: what a good answer is.")] = None,
    out: Annotated[str | None, typer.Option("--out", help="Output dir for results.jsonl and summary.json.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Run again even if results exist.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    allow_unsandboxed: Annotated[bool, typer.Option("--allow-unsandboxed", help=ALLOW_HELP)] = False,
) -> None:
    """Evaluate a model on an eval set, or score predictions made elsewhere.

    Example: posttrain eval --data eval.jsonl --metrics exact_match,f1 --few-shot 3 --train train.jsonl

    Example: posttrain eval --predictions api_outputs.jsonl --data eval.jsonl --metrics f1

    Example: posttrain eval --data eval.jsonl --device cuda --precision bf16
    """
    from harness.data.mapping import parse_columns
    from harness.evaluation.runner import EvalRequest, evaluate, retriever_for
    from harness.evaluation.sandbox_modes import allow_unsandboxed as allow
    from posttrain.errors import BadInput

    allow(allow_unsandboxed)

    if backend not in ("hf", "vllm", "auto"):
        raise BadInput(f"--backend {backend}: use hf, vllm or auto")
    if predictions is None:  # a model runs: where, by the one policy (harness.models.device), said up front
        device, precision = _placement(device, precision)
    retriever, retriever_id = (None, None)
    if rag:
        retriever, retriever_id = retriever_for(rag, chroma_url)
    request = EvalRequest(
        data=data,
        model=model,
        adapter=adapter,
        metrics=_split(metrics) or ["exact_match"],
        predictions=predictions,
        retriever=retriever,
        retriever_id=retriever_id,
        top_k=top_k,
        system_prompt=system_prompt,
        few_shot=few_shot,
        train=train,
        columns=parse_columns(columns) or None,
        split=split,
        limit=limit,
        max_new_tokens=max_new_tokens,
        stop=stop or None,
        batch_size=batch_size,
        backend=backend,  # type: ignore[arg-type]
        device=device,
        precision=precision,
        judge_model=judge_model,
        judge_url=judge_url,
        judge_rubric=judge_rubric,
        out=out,
        use_cache=not no_cache,
    )
    summary = evaluate(request)
    if as_json:
        payload = summary.model_dump(mode="json") | {"out_dir": summary.out_dir, "cached": summary.cached}
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_summary(summary)


def _placement(device: str, precision: str) -> tuple[str, str]:
    """``--device``/``--precision`` resolved by :func:`harness.models.device.resolve_placement` (auto → cuda in
    bf16 where supported, else cpu in fp32); a device not here is one line naming the flag."""
    from harness.models.device import resolve_placement
    from posttrain.errors import BadInput

    try:
        placement = resolve_placement(device, precision, purpose="infer")
    except BadInput as error:
        message = str(error).replace("compute.device", "--device").replace("compute.precision", "--precision")
        raise BadInput(message) from None
    return placement.device, placement.precision


def _print_summary(summary: EvalSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    title = f"{summary.variant} · {summary.model}" + (f" + {summary.adapter}" if summary.adapter else "")
    table = Table(title=f"{title} on {summary.eval_set} (n={summary.n})")
    for column in ("metric", "mean", "95% CI", "n"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, m in summary.metrics.items():
        table.add_row(name, f"{m.mean:.3f}", f"[{m.ci95[0]:.3f}, {m.ci95[1]:.3f}]", str(m.n))
    console = Console(highlight=False)
    console.print(table)
    latency = f"{summary.latency_s_mean:.3f} s/example" if summary.latency_s_mean is not None else "n/a"
    state = "cached: nothing was run again" if summary.cached else f"{summary.wall_s:.1f} s"
    where = f"ran on {summary.ran_on}" if summary.ran_on else "no local model ran"  # predictions, an endpoint
    console.print(f"{where} · latency {latency} · {state} · results in {summary.out_dir}/results.jsonl")


def register(app: typer.Typer) -> None:
    """Add ``posttrain eval`` to the root app."""
    app.command("eval")(eval_command)
