"""``posttrain data distill | best-of-n | filter | mix``: commands that make training data.

Registered on the data area's sub-app by ``harness.areas``; each command parses, calls one library
function from :mod:`harness.datagen` and prints. Heavy libraries load inside those functions.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from harness.evaluation.sandbox_modes import ALLOW_HELP

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def _progress(label: str, quiet: bool) -> Any:
    err = _console(stderr=True)

    def report(done: int, total: int) -> None:
        if not quiet:
            err.print(f"[dim]{label} {done}/{total}[/]")

    return report


def distill_command(
    prompts: Annotated[str, typer.Argument(help="Prompt file: rows with 'prompt' or 'messages'.")],
    teacher: Annotated[str, typer.Option("--teacher", help="A model (name or directory) or an endpoint URL.")],
    out: Annotated[str, typer.Option("--out", help="SFT JSONL to write; an existing one is resumed.")],
    teacher_model: Annotated[
        str | None, typer.Option("--teacher-model", help="Model name to ask the endpoint for (URL teachers).")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Longest answer, in tokens.")] = 256,
    temperature: Annotated[float, typer.Option("--temperature", help="0 is greedy.")] = 0.0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Prompts per generation batch.")] = 8,
    as_json: JsonFlag = False,
) -> None:
    """Answer each prompt with a teacher model; write conversational SFT data.

    The teacher is a local model or an OpenAI-compatible server (vLLM, Ollama) given by URL. Each row
    records the teacher and its settings. Rerunning the same command resumes where it stopped.

    Example: posttrain data distill prompts.jsonl --teacher http://localhost:8000/v1 --out sft.jsonl
    """
    from harness.datagen.distill import distill

    summary = distill(
        prompts,
        teacher,
        out,
        teacher_model=teacher_model,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        batch_size=batch_size,
        on_batch=_progress("answered", as_json),
    )
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    _console().print(
        f"distilled {summary.written} new rows with [bold]{summary.teacher}[/] into {summary.out} "
        f"({summary.resumed} already there, {summary.empty} empty answers skipped, {summary.wall_s:.1f} s)"
    )


def best_of_n_command(
    prompts: Annotated[str, typer.Argument(help="Prompt file; reference columns (answer, tests) reach the reward.")],
    n: Annotated[int, typer.Option("-n", "--n", help="Samples per prompt.")],
    reward: Annotated[
        str,
        typer.Option(
            "--reward",
            help="Built-in (numeric_answer...), rewards.py:function, a reward-model dir, or judge:MODEL|URL.",
        ),
    ],
    out: Annotated[str, typer.Option("--out", help="SFT JSONL of the best answers; an existing one is resumed.")],
    model: Annotated[str, typer.Option("--model", help="The model that samples.")] = "smollm2-135m",
    pairs: Annotated[str | None, typer.Option("--pairs", help="Also write best-vs-worst DPO pairs here.")] = None,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature.")] = 0.7,
    top_p: Annotated[float, typer.Option("--top-p", help="Nucleus sampling mass.")] = 1.0,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="Longest sample, in tokens.")] = 128,
    min_reward: Annotated[
        float | None,
        typer.Option("--min-reward", help="Keep prompts whose best score reaches this (others resample on rerun)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed.")] = 0,
    as_json: JsonFlag = False,
    allow_unsandboxed: Annotated[bool, typer.Option("--allow-unsandboxed", help=ALLOW_HELP)] = False,
) -> None:
    """Sample N answers per prompt, score them, keep the best as SFT data (and best-vs-worst DPO pairs).

    Pairs skip prompts where every sample scored the same. Prints the score distribution of all
    samples and of the kept answers, and how many prompts gave a usable pair.

    Example: posttrain data best-of-n prompts.jsonl -n 8 --reward numeric_answer --out sft.jsonl --pairs dpo.jsonl
    """
    from harness.datagen.best_of_n import best_of_n
    from harness.evaluation.sandbox_modes import allow_unsandboxed as allow

    allow(allow_unsandboxed)
    summary = best_of_n(
        prompts,
        model,
        n,
        reward,
        out,
        pairs=pairs,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        min_reward=min_reward,
        seed=seed,
        on_batch=_progress("sampled prompts", as_json),
    )
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    console = _console()
    s, b = summary.sample_scores, summary.best_scores
    console.print(
        f"best-of-{summary.n} with {summary.reward}: {summary.written} new SFT rows in {summary.out} "
        f"({summary.resumed} already there; {summary.samples_per_s:.2f} samples/s)"
    )
    console.print(f"  single sample: mean {s.mean} over {s.n} samples; distribution {json.dumps(s.histogram)}")
    console.print(f"  best of {summary.n}: mean {b.mean} over {b.n} prompts; distribution {json.dumps(b.histogram)}")
    if summary.pairs_out:
        console.print(
            f"  pairs: {summary.pairs} usable in {summary.pairs_out}; {summary.tied_prompts} prompts skipped "
            "(every sample scored the same)"
        )
    if summary.below_min_reward or summary.unscored:
        console.print(
            f"  dropped: {summary.below_min_reward} below --min-reward, {summary.unscored} the reward could not score"
        )


def filter_command(
    pool: Annotated[str, typer.Argument(help="SFT or DPO data to filter.")],
    out: Annotated[str, typer.Option("--out", help="Where the kept rows go.")],
    eval_set: Annotated[str | None, typer.Option("--eval", help="Eval set: rows overlapping it are dropped.")] = None,
    max_rows: Annotated[
        int | None, typer.Option("--max", help="Then keep this many, chosen for diversity (MiniLM + k-means).")
    ] = None,
    max_length: Annotated[
        int | None, typer.Option("--max-length", help="Drop rows longer than this many tokens (chat template).")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Tokenizer for --max-length.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the diversity selection.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Drop broken, duplicate, leaked, over-long and prompt-repeating rows; optionally keep a diverse N.

    The filters are those of `posttrain data check`; --max then keeps N rows spread over the pool's
    topics (MiniLM embeddings, k-means). The report says what was dropped, why and where.

    Example: posttrain data filter pool.jsonl --eval eval.jsonl --max 1000 --out clean.jsonl
    """
    from harness.datagen.filter import filter_pool

    summary = filter_pool(
        pool, out, eval_path=eval_set, max_rows=max_rows, max_length=max_length, model=model, seed=seed
    )
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    console = _console()
    console.print(f"kept {summary.kept} of {summary.total} rows → {summary.out}")
    for reason, count in summary.dropped.items():
        if count:
            console.print(f"  dropped {count:>6} {reason}")
            for example in summary.examples.get(reason, [])[:3]:
                console.print(f"           [dim]{example}[/]")


def mix_command(
    sources: Annotated[list[str], typer.Argument(help="PATH:WEIGHT for each source, e.g. a.jsonl:0.7 b.jsonl:0.3.")],
    out: Annotated[str, typer.Option("--out", help="The mixed JSONL.")],
    n: Annotated[
        int | None, typer.Option("--n", help="Rows in the mix (default: as many as fit without repeating a row).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draw and the shuffle.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Mix data sources by weight, reproducibly (same seed, same mix).

    Example: posttrain data mix chat.jsonl:0.7 math.jsonl:0.3 --n 1000 --out mix.jsonl
    """
    from harness.datagen.mix import mix

    summary = mix(sources, out, n=n, seed=seed)
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    console = _console()
    console.print(f"mixed {summary.n} {summary.format} rows into {summary.out} (seed {summary.seed})")
    for source in summary.sources:
        note = " [yellow](repeated: fewer rows than its share)[/]" if source.repeated else ""
        console.print(
            f"  {source.taken:>6} from {source.path} (weight {source.weight:.2f}, has {source.available}){note}"
        )


def register_datagen(data_app: typer.Typer) -> None:
    """Add distill, best-of-n, filter and mix to the ``posttrain data`` sub-app."""
    data_app.command("distill")(distill_command)
    data_app.command("best-of-n")(best_of_n_command)
    data_app.command("filter")(filter_command)
    data_app.command("mix")(mix_command)
