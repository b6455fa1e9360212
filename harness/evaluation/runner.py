"""``evaluate(EvalRequest) -> EvalSummary``: run a model (or score given predictions) over an eval set.

Writes ``results.jsonl`` (one row per example: id, prompt, context_ids, context_sources, output,
reference, scores, latency_s, prompt_tokens, output_tokens, cut, a ``latency_bs1_s`` on a few rows and
the row's ``source`` when it names one) and ``summary.json`` (each metric's mean with a 95% bootstrap
interval) into the out dir.
Results are keyed by a hash of model, adapter, config, data and code: a rerun with the same key
reads them back instead of generating again. Results of a different key already in the out dir
are moved to ``previous-<key>/``, never overwritten.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from harness.evaluation import cache
from harness.evaluation.endpoint import EndpointSpec
from harness.evaluation.metrics import check_rows, get_metric
from posttrain.errors import BadInput

Variant = Literal["prompt", "kshot", "rag", "tuned", "tuned_rag", "predictions"]
HostedVariant = Annotated[str, StringConstraints(pattern=r"^api-[a-z0-9][a-z0-9_-]*$")]  # a hosted endpoint


class EvalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    data: str = Field(description="Eval rows: prompt or messages, reference, optional tests/choices/id.")
    model: str = Field("smollm2-135m", description="Model: 'smollm2-135m', a model directory or a hub id.")
    adapter: str | None = Field(None, description="A PEFT adapter directory applied to the model.")
    metrics: list[str] = Field(default_factory=lambda: ["exact_match"], min_length=1, description="Metric names.")
    variant: Variant | HostedVariant | None = Field(
        None, description="Name in reports; by default from adapter/rag/few_shot (api-NAME[-rag] for endpoints)."
    )
    eval_set: str | None = Field(None, description="Eval set name in reports; by default the data file's stem.")
    system_prompt: str | None = Field(None, description="System prompt put before every question.")
    few_shot: int = Field(0, ge=0, le=32, description="k examples from the training data before each question.")
    train: str | None = Field(None, description="Training data the k-shot examples are drawn from.")
    train_columns: dict[str, str] | None = Field(
        None, description="Column mapping of the training data (TARGET: SOURCE), as data.train gives it."
    )
    columns: dict[str, str] | None = Field(
        None, description="Column mapping of the eval rows (TARGET: SOURCE), e.g. {reference: answer}."
    )
    split: str | None = Field(None, description="The split of a DatasetDict folder of eval rows.")
    seed: int = Field(0, description="Seed for drawing k-shot examples and for sampling.")
    retriever: Any = Field(None, exclude=True, description="An object with .search(query, k) -> hits (RAG).")
    retriever_id: str | None = Field(None, description="What the retriever searches (for the cache key).")
    endpoint: EndpointSpec | None = Field(None, description="Ask this OpenAI-compatible endpoint instead of the model.")
    top_k: int = Field(3, ge=1, le=50, description="Chunks retrieved per question.")
    limit: int | None = Field(None, ge=1, description="Only the first N rows.")
    max_new_tokens: int = Field(128, ge=1, description="Longest generated answer.")
    stop: list[str] | None = Field(None, description="Stop sequences; generation is cut at the first one.")
    batch_size: int | None = Field(None, ge=1, description="Rows per batch; by default chosen to fit memory.")
    backend: Literal["hf", "vllm", "auto"] = Field("hf", description="'vllm' needs CUDA and vllm; 'auto' picks.")
    dtype: str | None = Field(None, description="Weights dtype override (e.g. float32); by default from precision.")
    device: str = Field("auto", description="compute.device: auto (CUDA when present), cpu, cuda or mps.")
    precision: str = Field("auto", description="compute.precision: auto (bf16 on CUDA, fp32 on CPU), fp32, bf16, fp16.")
    predictions: str | None = Field(None, description="Score these outputs ({id, output} rows) instead.")
    judge_model: str | None = Field(None, description="Judge: a local model spec, or the model name at judge_url.")
    judge_url: str | None = Field(None, description="Judge: an OpenAI-compatible endpoint (http://host/v1).")
    judge_rubric: str | None = Field(None, description="Judge: what a good answer is.")
    out: str | None = Field(None, description="Output dir; by default $POSTTRAIN_HOME/evals/<key>.")
    use_cache: bool = Field(True, description="Reuse results stored under the same key.")


class MetricSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mean: float
    ci95: tuple[float, float]
    n: int


class EvalSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: str
    model: str
    adapter: str | None
    eval_set: str
    metrics: dict[str, MetricSummary]
    latency_s_mean: float | None
    n: int
    cache_key: str
    wall_s: float
    ran_on: str | None = Field(None, description="Where the model ran, as device/dtype (e.g. cuda/bfloat16).")
    sandbox: str | None = Field(None, description="Isolation the unit_tests code ran under (sandbox_modes.MODES).")
    out_dir: str = Field("", exclude=True)
    cached: bool = Field(False, exclude=True)


def _variant(request: EvalRequest) -> str:
    if request.variant:
        return request.variant
    if request.predictions:
        return "predictions"
    rag = request.retriever is not None
    if request.adapter:
        return "tuned_rag" if rag else "tuned"
    return "rag" if rag else ("kshot" if request.few_shot else "prompt")


def _key(request: EvalRequest) -> str:
    config = request.model_dump(exclude={"out", "use_cache", "data", "train", "predictions", "adapter", "model"})
    parts: dict[str, Any] = {"config": config, "code": cache.code_digest(), "data": cache.file_digest(request.data)}
    if request.predictions:
        parts["predictions"] = cache.file_digest(request.predictions)
    else:
        from harness.models import resolve_model

        parts["model"] = cache.tree_digest(resolve_model(request.model))
        parts["adapter"] = cache.tree_digest(request.adapter) if request.adapter else None
    if request.few_shot and request.train:
        parts["train"] = cache.tree_digest(request.train)
    if request.retriever is not None:
        parts["retriever"] = request.retriever_id or getattr(request.retriever, "fingerprint", None) or "unknown"
        parts["search"] = getattr(request.retriever, "method", None)  # hybrid search, or a caller's own
    return cache.cache_key(parts)


def _load_eval_rows(request: EvalRequest) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The rows to evaluate (after --limit), their ids, and every question of the file (for k-shot)."""
    from harness.data.formats import eval_messages, validated_rows
    from harness.data.mapping import announce, read_rows
    from harness.evaluation.prompting import question_of

    # Read once, with the set's column mapping (evals[].columns / --columns), as `config check` reads it.
    table = read_rows(request.data, columns=request.columns, split=request.split)
    announce(table)
    check_rows(request.metrics, table.rows, table.where)  # names the metric that needs a missing field
    all_rows = validated_rows(table, "eval", request.data)
    questions = [question_of(eval_messages(row)) for row in all_rows]
    rows = all_rows[: request.limit] if request.limit else all_rows
    ids = [str(row["id"]) if row.get("id") is not None else str(i) for i, row in enumerate(rows)]
    seen: dict[str, int] = {}
    for i, example_id in enumerate(ids):
        if example_id in seen:
            raise BadInput(f"{table.where(i)}: id {example_id!r} repeats the id of {table.where(seen[example_id])}")
        seen[example_id] = i
    return rows, ids, questions


def _read_predictions(path: str, ids: list[str]) -> list[str]:
    from harness.data.io import read_table

    table = read_table(path)
    outputs: dict[str, str] = {}
    for i, row in enumerate(table.rows):
        if "id" not in row or "output" not in row:
            raise BadInput(f"{table.where(i)}: a prediction row needs 'id' and 'output' fields")
        key = str(row["id"])
        if key in outputs:
            raise BadInput(f"{table.where(i)}: a second prediction for id {key!r}")
        outputs[key] = "" if row["output"] is None else str(row["output"])
    missing = [i for i in ids if i not in outputs]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise BadInput(f"{path}: no prediction for eval id {missing[0]!r}{more}; rows are matched by 'id'")
    return [outputs[i] for i in ids]


def _conversations(
    request: EvalRequest, rows: list[dict[str, Any]], eval_questions: list[str] | None = None
) -> tuple[list[list[dict[str, str]]], list[list[str]]]:
    """The conversation sent for each row, and the retrieved context ids of each.

    ``eval_questions``: every question of the eval file (not only the --limit ones); none of them
    may appear among the k-shot examples.
    """
    from harness.data.formats import eval_messages
    from harness.evaluation.prompting import add_context, build_conversation, draw_shots, question_of

    base = [eval_messages(row) for row in rows]
    shots: list[tuple[str, str]] = []
    if request.few_shot:
        if not request.train:
            raise BadInput("--few-shot needs --train FILE: k-shot examples come from the training data")
        from harness.data.formats import load_dataset

        train_rows = load_dataset(request.train, "sft", columns=request.train_columns)
        banned = (eval_questions or []) + [question_of(m) for m in base]
        shots = draw_shots(train_rows, request.few_shot, banned, request.seed)
        if len(shots) < request.few_shot:
            raise BadInput(
                f"{request.train}: only {len(shots)} usable training examples not in the eval set; "
                f"--few-shot {request.few_shot} needs that many"
            )
    context_ids: list[list[str]] = [[] for _ in base]
    if request.retriever is not None:
        base, context_ids = add_context(base, request.retriever, request.top_k)
    return [build_conversation(messages, request.system_prompt, shots) for messages in base], context_ids


def retriever_for(kb: str, chroma_url: str | None = None, collection: str = "knowledge") -> tuple[Any, str]:
    """A retriever over knowledge documents (indexed once into the posttrain home) or a built store.

    Returns (retriever, id); the id is the documents' content digest, so the eval cache follows them.
    """
    from rag_baseline.index import build_index
    from rag_baseline.retrieve import Retriever

    path = Path(kb)
    if not path.exists():
        raise BadInput(f"--rag {kb}: no such file or folder of knowledge documents")
    if path.is_dir() and (path / "chroma.sqlite3").is_file():  # an index built by `posttrain rag index`
        retriever = Retriever(path, collection, chroma_url=chroma_url)
        return retriever, retriever.fingerprint
    from harness.models import posttrain_home

    store = posttrain_home() / "rag" / cache.cache_key({"kb": str(path.resolve())})[:16]
    info = build_index(path, store, chunk_size=800, chunk_overlap=100, collection=collection, chroma_url=chroma_url)
    return Retriever(store, collection, chroma_url=chroma_url), info.fingerprint


_LOADED: dict[tuple[str, str | None, str | None, str, str], tuple[Any, Any]] = {}


def load_for_eval(
    model: str, adapter: str | None, dtype: str | None = None, device: str = "auto", precision: str = "auto"
) -> tuple[Any, Any]:
    """Load (model, tokenizer), keeping the last one so variants of one run share it."""
    from harness.models import load_model_and_tokenizer

    key = (model, adapter, dtype, device, precision)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_model_and_tokenizer(model, adapter, dtype=dtype, device=device, precision=precision)
    return _LOADED[key]


def release_loaded() -> None:
    """Drop the kept model (a run's next stage loads another: two in memory would only raise its peak)."""
    _LOADED.clear()


def _run_model(
    request: EvalRequest, rows: list[dict[str, Any]], conversations: list[list[dict[str, str]]]
) -> tuple[list[str], list[float], dict[str, list[str]]]:
    """Outputs and per-example latency; for 'choice', also the log-likelihood pick of each row."""
    from harness.evaluation.generate import generate_batch, generate_vllm, render_prompts, vllm_available

    latencies = [0.0] * len(rows)
    extra: dict[str, list[str]] = {}
    only_choice = set(request.metrics) == {"choice"}
    use_vllm = request.backend == "vllm" or (request.backend == "auto" and vllm_available())
    if use_vllm and not only_choice:
        from harness.models import resolve_model

        if not vllm_available():
            raise BadInput("--backend vllm needs CUDA and the vllm package; use --backend hf")
        started = time.perf_counter()
        outputs = [
            o[0]
            for o in generate_vllm(
                str(resolve_model(request.model)),
                conversations,
                max_new_tokens=request.max_new_tokens,
                adapter=request.adapter,
                stop=request.stop,
            )
        ]
        latencies = [(time.perf_counter() - started) / max(len(rows), 1)] * len(rows)
        if "choice" not in request.metrics:
            return outputs, latencies, extra
    model, tokenizer = load_for_eval(request.model, request.adapter, request.dtype, request.device, request.precision)
    if "choice" in request.metrics:
        from harness.evaluation.scorers import pick_choices

        extra["choice"] = pick_choices(model, tokenizer, render_prompts(tokenizer, conversations), rows)
    if use_vllm and not only_choice:
        return outputs, latencies, extra
    if only_choice:
        return list(extra["choice"]), latencies, extra

    def record(indices: list[int], seconds: float) -> None:
        for i in indices:  # a batch's rows share its wall time: latency = batch time / rows
            latencies[i] = seconds / len(indices)

    generated = generate_batch(
        model,
        tokenizer,
        conversations,
        max_new_tokens=request.max_new_tokens,
        stop=request.stop,
        batch_size=request.batch_size,
        on_batch=record,
    )
    return [g[0] for g in generated], latencies, extra


def _costs(
    request: EvalRequest, conversations: list[list[dict[str, str]]], outputs: list[str], generation_s: float
) -> list[dict[str, Any]]:
    """Per-row cost fields: prompt and answer tokens, ``cut`` at max_new_tokens, and ``latency_bs1_s``
    on a small sample (see :mod:`harness.evaluation.cost`)."""
    from harness.evaluation import cost
    from harness.evaluation.generate import vllm_available

    if set(request.metrics) == {"choice"}:  # nothing was generated
        return [{} for _ in outputs]
    if request.backend == "vllm" or (request.backend == "auto" and vllm_available()):
        from transformers import AutoTokenizer

        from harness.models import resolve_model

        model, tokenizer = None, AutoTokenizer.from_pretrained(str(resolve_model(request.model)))
    else:
        model, tokenizer = load_for_eval(
            request.model, request.adapter, request.dtype, request.device, request.precision
        )
    prompt_tokens, output_tokens = cost.token_counts(tokenizer, conversations, outputs)
    rows: list[dict[str, Any]] = [
        {"prompt_tokens": p, "output_tokens": o, "cut": cost.was_cut(o, request.max_new_tokens)}
        for p, o in zip(prompt_tokens, output_tokens, strict=True)
    ]
    if model is not None:
        timed = cost.batch1_latencies(
            model,
            tokenizer,
            conversations,
            output_tokens=output_tokens,
            max_new_tokens=request.max_new_tokens,
            stop=request.stop,
            generation_s=generation_s,
        )
        for row, seconds in zip(rows, timed, strict=False):
            row["latency_bs1_s"] = round(seconds, 4)
    return rows


def _score_all(
    request: EvalRequest, rows: list[dict[str, Any]], outputs: list[str], extra: dict[str, list[str]]
) -> list[dict[str, float]]:
    from harness.evaluation.prompting import question_of

    scores: list[dict[str, float]] = [{} for _ in rows]
    for name in request.metrics:
        metric = get_metric(name)
        if name == "judge":
            from harness.data.formats import eval_messages
            from harness.evaluation.scorers import JudgeScorer

            judge = JudgeScorer(request.judge_model, request.judge_url, request.judge_rubric)
            grades = judge.score(
                [question_of(eval_messages(r)) for r in rows], outputs, [r.get("reference") for r in rows]
            )
            for s, grade in zip(scores, grades, strict=True):
                s[name] = grade
            continue
        answers = extra.get(name, outputs)
        for s, answer, row in zip(scores, answers, rows, strict=True):
            s[name] = metric.fn(answer, row)
    return scores


def _summarise(request: EvalRequest, key: str, results: list[dict[str, Any]], wall_s: float) -> EvalSummary:
    from harness.stats import bootstrap_ci

    metrics = {}
    for name in request.metrics:
        values = [r["scores"][name] for r in results if name in r["scores"]]
        mean = sum(values) / len(values) if values else float("nan")
        metrics[name] = MetricSummary(mean=mean, ci95=bootstrap_ci(values), n=len(values))
    latencies = [r["latency_s"] for r in results if r["latency_s"] is not None]
    return EvalSummary(
        variant=_variant(request),
        model=f"predictions:{request.predictions}" if request.predictions else request.model,
        adapter=request.adapter,
        eval_set=request.eval_set or Path(request.data).stem,
        metrics=metrics,
        latency_s_mean=sum(latencies) / len(latencies) if latencies else None,
        n=len(results),
        cache_key=key,
        wall_s=round(wall_s, 3),
        ran_on=_ran_on(request),
    )


def _ran_on(request: EvalRequest) -> str | None:
    """device/dtype of the model this request loaded (None when it scored predictions or ran on vLLM)."""
    loaded = _LOADED.get((request.model, request.adapter, request.dtype, request.device, request.precision))
    if loaded is None or request.predictions:
        return None
    param = next(loaded[0].parameters())
    return f"{param.device.type}/{str(param.dtype).removeprefix('torch.')}"


def _cached(out: Path, key: str) -> EvalSummary | None:
    try:
        stored = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        if stored.get("cache_key") != key or not (out / "results.jsonl").is_file():
            return None
        return EvalSummary.model_validate(stored).model_copy(update={"out_dir": str(out), "cached": True})
    except (OSError, ValueError):
        return None


def _keep_previous(out: Path) -> None:
    """Move results of another key aside so nothing earlier is lost."""
    summary = out / "summary.json"
    if not summary.is_file():
        return
    try:
        old = str(json.loads(summary.read_text(encoding="utf-8")).get("cache_key", "unknown"))[:12]
    except ValueError:
        old = "unreadable"
    target = out / f"previous-{old}"
    target.mkdir(exist_ok=True)
    for name in ("results.jsonl", "summary.json"):
        if (out / name).exists():
            os.replace(out / name, target / name)


def _write(out: Path, results: list[dict[str, Any]], summary: EvalSummary) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _keep_previous(out)
    tmp = out / "results.jsonl.tmp"
    with tmp.open("w", encoding="utf-8") as handle:
        for row in results:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, out / "results.jsonl")
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out / "summary.json")  # written last: its presence means the results are complete


def evaluate(request: EvalRequest) -> EvalSummary:
    """Generate (or read predictions), score every example, write results.jsonl and summary.json."""
    for name in request.metrics:
        get_metric(name)  # unknown names fail before anything is read or loaded
    if request.few_shot and not request.train:
        raise BadInput("--few-shot needs --train FILE: k-shot examples come from the training data")
    if request.endpoint is not None and "choice" in request.metrics:
        raise BadInput("metric 'choice' scores log-likelihoods, which an endpoint does not return; use contains")
    rows, ids, questions = _load_eval_rows(request)
    key = _key(request)
    if request.out:
        out = Path(request.out)
    else:
        from harness.models import posttrain_home

        out = posttrain_home() / "evals" / key[:16]
    if request.use_cache and (hit := _cached(out, key)) is not None:
        return hit
    sandbox = None
    if "unit_tests" in request.metrics:  # refuse (no sandbox, no opt-in) before any model loads
        from harness.evaluation.sandbox_modes import isolation_level

        sandbox = isolation_level()
    from harness.data.formats import eval_messages
    from harness.evaluation.prompting import question_of

    started = time.perf_counter()
    latencies: list[float | None]
    extra: dict[str, list[str]] = {}
    if request.predictions:
        outputs = _read_predictions(request.predictions, ids)
        latencies = [None] * len(rows)
        context_ids: list[list[str]] = [[] for _ in rows]
        costs: list[dict[str, Any]] = [{} for _ in rows]
    else:
        conversations, context_ids = _conversations(request, rows, questions)
        generation_started = time.perf_counter()
        if request.endpoint is not None:  # a hosted model: its own per-request latency, tokens and price
            from harness.evaluation.endpoint import answer_all

            outputs, model_latencies, costs = answer_all(
                request.endpoint, conversations, request.max_new_tokens, request.stop
            )
        else:
            outputs, model_latencies, extra = _run_model(request, rows, conversations)
            costs = _costs(request, conversations, outputs, time.perf_counter() - generation_started)
        latencies = list(model_latencies)
    scores = _score_all(request, rows, outputs, extra)

    results = []
    for i, row in enumerate(rows):
        result = {
            "id": ids[i],
            "prompt": question_of(eval_messages(row)),
            "context_ids": context_ids[i],
            "output": outputs[i],
            "reference": row.get("reference"),
            "scores": scores[i],
            "latency_s": None if latencies[i] is None else round(latencies[i] or 0.0, 4),
            # chunk ids are "<source>#<heading path or n>": the documents retrieved, for the report's retrieval hit@k
            "context_sources": [cid.split("#", 1)[0] for cid in context_ids[i]],
            **costs[i],
        }
        if row.get("source") is not None:  # the document that answers the row (optional eval column)
            result["source"] = row["source"]
        if "choice" in extra:
            result["choice"] = extra["choice"][i]
        if sandbox is not None:
            result["sandbox"] = sandbox
        results.append(result)
    summary = _summarise(request, key, results, time.perf_counter() - started)
    summary = summary.model_copy(update={"sandbox": sandbox})
    _write(out, results, summary)
    return summary.model_copy(update={"out_dir": str(out)})
