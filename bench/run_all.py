"""``make bench``: run every benchmark script and print one table of posttrain against its peers.

Each script measures posttrain and the tool a user would otherwise run side by side, alternating runs
in its own process tree, and prints both figures, the ratio and the spread. This runner only collects:
it keeps each script's output in ``bench/results/<script>.txt`` (with a header line: date, exit code,
duration, load average) and picks the figures out of it with the patterns in ``FIGURES``.

    .venv/bin/python bench/run_all.py [--only NAME ...] [--readme] [--from-results] [--quick]

``--readme`` rewrites README.md's benchmark table (between ``<!-- bench:begin -->`` and
``<!-- bench:end -->``) from this run; with ``--from-results`` nothing runs and the saved outputs are used.
``--quick`` runs every script on small inputs (a few minutes): it shows that the run works end to end;
its figures are not for quoting, so they never reach the README.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
README = BENCH.parent / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SCRIPT_TIMEOUT_S = 20 * 60  # one hung script must not hold up the table


@dataclass(frozen=True)
class Figure:
    """One row of the table. Each pattern is a regex over the script's output whose group 1 is the cell.

    ``judge`` names the cell the target is checked against: ``"ours"`` (posttrain's figure) or
    ``"ratio"``. A target is ``"≤ 180"``, ``"≥ 2"``, ``"100%"`` (at least), a word the cell must equal
    (``"ok"``), or ``"—"`` (reported, not judged).
    """

    name: str
    ours: str
    target: str = "—"
    peer: str | None = None
    ratio: str | None = None
    spread: str | None = None
    judge: str = "ours"


# Arguments for `make bench`: settings that keep the whole run under ~25 minutes on 2 idle cores.
SCRIPTS: dict[str, list[str]] = {
    # (≈ 7 min: the whole manual once, then 3 alternating runs of each indexer on 1,500 of its chunks)
    "rag_real_corpus.py": ["--runs", "3", "--compare-chunks", "1500"],
    "rag_speed.py": ["--chunks", "2000", "--queries", "200"],  # the real corpus carries the indexing target
    "data_check.py": ["--runs", "2"],  # 100k rows: ≈ 30 s for posttrain, ≈ 60 s for the peer, per run
}
# `--quick`: every script on a small input, to check that `make bench` works end to end (figures not quoted).
QUICK: dict[str, list[str]] = {
    "rag_real_corpus.py": ["--limit-pages", "30", "--runs", "1", "--compare-chunks", "150"],
    "rag_speed.py": ["--chunks", "300", "--queries", "20"],
    "data_check.py": ["--rows", "5000", "--runs", "1"],
    "data_convert.py": ["--rows", "5000"],
    "cli_startup.py": ["2"],
    "sandbox_overhead.py": ["3"],
}

# script -> its rows; a plain (figure, regex, target) tuple is a row with posttrain's figure only.
FIGURES: dict[str, list[Figure | tuple[str, str, str]]] = {
    "rag_real_corpus.py": [
        Figure(
            "index PostgreSQL manual (all pages, ~13.9k chunks), s",
            r"real corpus index: [\d,]+ chunks in ([\d.]+) s",
            "—",
        ),
        Figure(
            "index PostgreSQL manual, chunks/s (10k chunks in 180 s = 55.6)",
            r"real corpus index: [\d,]+ chunks in [\d.]+ s \(([\d.]+) chunks/s",
            "≥ 55.6",
        ),
        Figure(
            "index 10,000 real chunks at the manual's rate, s",
            r"10,000 chunks at this rate: ([\d.]+) s",
            "≤ 180",
        ),
        Figure(
            "index same chunks, median s (peer: sentence-transformers + chromadb)",
            r"posttrain\s+median ([\d.]+) s",
            "≥ 1.0",
            peer=r"plain\s+median ([\d.]+) s",
            ratio=r"speed-up posttrain vs plain [^:]*: ([\d.]+)x",
            spread=r"posttrain\s+median [\d.]+ s, min–max ([\d.]+–[\d.]+) s",
            judge="ratio",
        ),
        Figure(
            "retrieval hit@3, whole manual (20 questions; hybrid search)",
            r"retrieval hit@3 \(whole[^:]*: (\d+%)",
            "≥ 90%",
        ),
        Figure(
            "retrieval hit@3, sampled chunks (peer: plain fp32 cosine)",
            r"same chunks: posttrain hit@3 (\d+%)",
            "—",
            peer=r"plain fp32 hit@3 (\d+%)",
        ),
        Figure("duplicate chunks across pages", r"duplicate chunks ([\d.]+%)", "< 1%"),
    ],
    "rag_speed.py": [
        Figure(
            "index synthetic chunks, chunks/s (cross-check)", r"chunks of ~\d+ chars: [\d.]+ s \((\d+) chunks/s", "≥ 83"
        ),
        Figure("median query latency, ms", r"median ([\d.]+) ms", "≤ 50"),
    ],
    "data_check.py": [
        Figure(
            "data check 100k rows, median s (peer: datasketch dedup)",
            r"posttrain data check\s+median ([\d.]+) s",
            "≤ 60",
            peer=r"plain datasketch\s+median ([\d.]+) s",
            ratio=r"speed-up posttrain vs plain datasketch: ([\d.]+)x",
            spread=r"posttrain data check\s+median [\d.]+ s, min–max ([\d.]+–[\d.]+) s",
        ),
        Figure(
            "data check peak RSS, MB", r"peak RSS ([\d,]+) MB", "≤ 2048", peer=r"plain datasketch.*peak RSS ([\d,]+) MB"
        ),
        Figure(
            "planted near duplicates found",
            r"near duplicates\s+posttrain\s+\d+ /\s*\d+ =\s+([\d.]+%)",
            "≥ 90%",
            peer=r"near duplicates\s+posttrain.*plain\s+\d+ /\s*\d+ =\s+([\d.]+%)",
        ),
        Figure(
            "planted exact duplicates found",
            r"exact duplicates\s+posttrain\s+\d+ /\s*\d+ =\s+([\d.]+%)",
            "100%",
            peer=r"exact duplicates\s+posttrain.*plain\s+\d+ /\s*\d+ =\s+([\d.]+%)",
        ),
        Figure(
            "planted eval leaks found (peer: no leak check)", r"eval leaks\s+posttrain \d+ / \d+ = ([\d.]+%)", "100%"
        ),
    ],
    "data_convert.py": [
        Figure("data convert 100k ShareGPT rows, wall s", r"data convert\s+wall\s+([\d.]+) s", "≤ 60"),
        Figure("data check 100k ShareGPT rows, wall s", r"data check\s+wall\s+([\d.]+) s", "≤ 60"),
    ],
    "cli_startup.py": [
        ("posttrain --help, wall s", r"posttrain --help\s+([\d.]+)", "≤ 0.25"),
        ("advise --answers … --json, wall s", r"advise --answers … --json\s+([\d.]+)", "≤ 0.40"),
    ],
    "sandbox_overhead.py": [
        Figure(
            "sandboxed unit test, median ms (peer: bare python)",
            r"^sandbox \S+: median ([\d.]+) ms",
            peer=r"bare python median ([\d.]+) ms",
            ratio=r"sandbox / bare: ([\d.]+)x",
            spread=r"^sandbox \S+: median [\d.]+ ms, min–max ([\d.]+–[\d.]+) ms",
        ),
    ],
    "eval_vs_lmeval.py": [
        Figure(
            "posttrain eval 42 rows × 40 tokens, whole process, median s (peer: lm-eval hf)",
            r"^posttrain\s+wall median\s+([\d.]+) s",
            "≥ 2",
            peer=r"^lm-eval\s+wall median\s+([\d.]+) s",
            ratio=r"speed-up posttrain vs lm-eval: ([\d.]+)x",
            spread=r"^posttrain\s+wall median\s+[\d.]+ s \(min–max ([\d.]+–[\d.]+)\)",
            judge="ratio",
        ),
        Figure("greedy outputs identical to lm-eval's", r"identical greedy outputs: \d+/\d+ \(([\d.]+%)\)", "100%"),
    ],
    "eval_speed.py": [
        ("batched / one-at-a-time eval speed-up", r"= ([\d.]+)x", "≥ 3"),
    ],
    "train_overhead.py": [
        Figure(
            "train wall, s (peer: plain TRL, same settings)",
            r"^run wall: posttrain ([\d.]+)",
            "≤ 1.05",
            peer=r"^run wall: .*plain TRL same settings ([\d.]+)",
            ratio=r"posttrain / plain TRL: ([\d.]+)",
            spread=r"posttrain / plain TRL: [\d.]+ \(([\d.]+–[\d.]+);",
            judge="ratio",
        ),
        Figure(
            "train share of the matmul peak (bf16; fp32 without bf16 units; CPU time; "
            "6·N_lora + 4·N_frozen + attn, LM head on labelled tokens)",
            r"^posttrain share of (?:bf16|fp32) peak \(CPU time\): (\d+%)",
            "≥ 40%",
            spread=r"^posttrain share of (?:bf16|fp32) peak \(CPU time\): \d+% \((\d+%–\d+%);",
        ),
    ],
    "best_of_n_speed.py": [
        Figure(
            "best-of-N samples/s (peer: one at a time)",
            r"batched:.*= ([\d.]+) samples/s",
            peer=r"one at a time:.*= ([\d.]+) samples/s",
            ratio=r"ratio batched / one at a time: ([\d.]+)×",
        ),
    ],
    "cuda_check.py": [
        ("CUDA paths: SFT, DPO, GRPO and eval on cuda/bf16", r"cuda paths: (\S+)", "ok"),
    ],
}

COLUMNS = ("figure", "posttrain", "peer", "ratio", "target", "spread (min–max)", "met?")
NOT_RUN = "not run"


@dataclass(frozen=True)
class Result:
    """One script's saved output: what ran, when, how long, its exit code and the load around it."""

    script: str
    output: str
    exit_code: int | None = None  # None: the script is missing or was not run
    seconds: float = 0.0
    date: str = ""
    load_start: float | None = None
    load_end: float | None = None
    quick: bool = False


def as_figure(row: Figure | tuple[str, str, str]) -> Figure:
    return row if isinstance(row, Figure) else Figure(name=row[0], ours=row[1], target=row[2])


def _pick(pattern: str | None, output: str) -> str:
    if not pattern:
        return ""
    match = re.search(pattern, output, re.MULTILINE)
    return match.group(1) if match else ""


def _number(cell: str) -> float | None:
    match = re.search(r"-?\d[\d,]*(?:\.\d+)?", cell)
    return float(match.group().replace(",", "")) if match else None


def target_met(value: str, target: str) -> str:
    """``yes``/``no`` when ``value`` can be judged against ``target``, else ``—``.

    >>> target_met("142.0", "≤ 180"), target_met("85%", "≥ 90%"), target_met("100.0%", "100%")
    ('yes', 'no', 'yes')
    >>> target_met("ok", "ok"), target_met("skipped", "ok"), target_met("3.1", "—"), target_met("", "≤ 5")
    ('yes', 'no', '—', '—')
    """
    target = target.strip()
    if not value or target in ("", "—"):
        return "—"
    match = re.fullmatch(r"(≤|≥|<|>)?\s*(-?[\d.,]+)\s*(%|×|x|s|ms)?", target)
    if not match:  # a word the figure must equal
        return "yes" if value.strip() == target else "no"
    number = _number(value)
    if number is None:
        return "—"
    bound = float(match.group(2).replace(",", ""))
    compare = {"≤": number <= bound, "<": number < bound, ">": number > bound}
    return "yes" if compare.get(match.group(1) or "≥", number >= bound) else "no"


def rows_for(result: Result, figures: list[Figure]) -> list[tuple[str, ...]]:
    """The table rows of one script's figures; a figure the output lacks reads "not run" (or "failed")."""
    rows: list[tuple[str, ...]] = []
    for fig in figures:
        ours = _pick(fig.ours, result.output)
        if not ours:
            missing = NOT_RUN if result.exit_code in (None, 0) else f"failed (exit {result.exit_code})"
            rows.append((fig.name, missing, "", "", fig.target, "", "—"))
            continue
        if ours.lower() in ("skipped", NOT_RUN):  # the script skipped itself (no GPU, no corpus)
            rows.append((fig.name, ours, "", "", fig.target, "", "—"))
            continue
        peer, ratio, spread = (_pick(p, result.output) for p in (fig.peer, fig.ratio, fig.spread))
        judged = ratio if fig.judge == "ratio" else ours
        ratio_cell = f"{ratio}×" if ratio and not ratio.endswith(("×", "x", "%")) else ratio
        rows.append((fig.name, ours, peer, ratio_cell, fig.target, spread, target_met(judged, fig.target)))
    return rows


def machine_line(results: list[Result]) -> str:
    """Cores, CPU model, the date and the load average at the start and the end of the run."""
    ran = [r for r in results if r.exit_code is not None]
    loads = [r.load_start for r in ran if r.load_start is not None], [r.load_end for r in ran if r.load_end is not None]
    start = f"{loads[0][0]:.1f}" if loads[0] else "?"
    end = f"{loads[1][-1]:.1f}" if loads[1] else "?"
    dates = sorted(r.date for r in ran if r.date)
    when = "never" if not dates else dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"  # --only
    took = sum(r.seconds for r in ran)
    return (
        f"{when}: {os.cpu_count()} cores ({cpu_model()}), load average {start} at the start, {end} at the end; "
        f"{len(ran)} scripts in {took / 60:.1f} min"
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def render_text(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [COLUMNS, *rows]
    )


def render_markdown(rows: list[tuple[str, ...]], machine: str) -> str:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") or "" for c in cells) + " |"

    body = [line(COLUMNS), "| " + " | ".join("---" for _ in COLUMNS) + " |", *(line(r) for r in rows)]
    note = f"Generated by `bench/run_all.py --readme` — {machine}."
    return "\n".join([note, "", *body])


def keep_earlier_rows(rows: list[tuple[str, ...]], readme: str) -> list[tuple[str, ...]]:
    """``rows`` with each figure not measured now (its cell "not run") taken from the README's table as it stands,
    so ``--readme --only x.py`` on a fresh clone (no saved outputs) rewrites x.py's rows and keeps the others.

    >>> table = "<!-- bench:begin -->\\n| figure | posttrain |\\n| --- | --- |\\n| a \\\\| b | 3 |\\n<!-- bench:end -->"
    >>> keep_earlier_rows([("a | b", NOT_RUN), ("c", "1")], table)
    [('a | b', '3'), ('c', '1')]
    """
    begin, end = readme.find(BEGIN), readme.find(END)
    earlier: dict[str, tuple[str, ...]] = {}
    for line in readme[begin:end].splitlines() if begin >= 0 else []:
        if line.startswith("| ") and line.endswith(" |"):
            cells = tuple(c.replace("\\|", "|") for c in re.split(r"(?<!\\) \| ", line[2:-2]))
            earlier.setdefault(cells[0], cells)
    return [earlier.get(row[0], row) if row[1] == NOT_RUN else row for row in rows]


def replace_between_markers(text: str, block: str) -> str:
    """``text`` with everything between the bench markers replaced by ``block``."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise SystemExit(f"README.md: add the markers {BEGIN} and {END} around the benchmark table")
    return text[: begin + len(BEGIN)] + "\n" + block + "\n" + text[end:]


def run_script(script: str, args: list[str], quick: bool = False) -> Result:
    """Run one script with its output going to ``bench/results/<script>.txt`` as it comes."""
    path = BENCH / script
    if not path.is_file():
        return Result(script, "")
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start, started = os.getloadavg()[0], time.perf_counter()
    log = RESULTS / f"{script}.txt"
    with log.open("w") as handle:
        handle.write(f"# {script} {' '.join(args)}\n")
        handle.flush()
        try:
            code = subprocess.run(
                [sys.executable, str(path), *args], stdout=handle, stderr=subprocess.STDOUT, timeout=SCRIPT_TIMEOUT_S
            ).returncode
        except subprocess.TimeoutExpired:
            code = 124
    seconds, load_end = time.perf_counter() - started, os.getloadavg()[0]
    output = log.read_text()
    footer = f"# bench: date={date} exit={code} seconds={seconds:.0f} load={load_start:.2f},{load_end:.2f}"
    log.write_text(output + footer + (" quick\n" if quick else "\n"))
    return Result(script, output, code, seconds, date, load_start, load_end, quick)


def saved_result(script: str) -> Result:
    """A script's output from an earlier run (``--from-results``); "not run" when there is none."""
    log = RESULTS / f"{script}.txt"
    if not log.is_file():
        return Result(script, "")
    text = log.read_text()
    footer = r"^# bench: date=(.+?) exit=(-?\d+) seconds=(\d+) load=([\d.]+),([\d.]+)( quick)?$"
    meta = re.search(footer, text, re.MULTILINE)
    if not meta:
        return Result(script, text, 0)
    date, code, seconds, start, end, quick = meta.groups()
    return Result(script, text, int(code), float(seconds), date, float(start), float(end), bool(quick))


def collect(results: list[Result]) -> list[tuple[str, ...]]:
    by_script = {r.script: r for r in results}
    rows: list[tuple[str, ...]] = []
    for script, figures in FIGURES.items():
        result = by_script.get(script, Result(script, ""))
        rows += rows_for(result, [as_figure(f) for f in figures])
    return rows


def earlier_runs(readme: str) -> str:
    r"""The runs the table's note named: the latest with its machine, then only the dates of those it kept rows from.

    >>> earlier_runs("Generated by `bench/run_all.py --readme` — 2026-12-03 11:53 UTC: 2 cores; 1 scripts; "
    ...              "24 rows not measured in this run kept from 2026-12-02 17:57 UTC: 2 cores; 11 scripts.\n")
    '2026-12-03 11:53 UTC: 2 cores; 1 scripts, and earlier runs (2026-12-02 17:57 UTC)'
    """
    before = re.search(r"Generated by `bench/run_all.py --readme` — (.*?)\.?\n", readme)
    if before is None:
        return "before"
    latest, _, older = before.group(1).partition(" rows not measured in this run kept from ")
    if not older:
        return latest
    latest = latest.rpartition(";")[0]  # drop "; N", the count of rows that run kept
    dates = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC(?: to \d{4}-\d\d-\d\d \d\d:\d\d UTC)?", older)
    return f"{latest}, and earlier runs ({'; '.join(dates)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", nargs="*", help="script names (e.g. data_check.py); the others are not run")
    parser.add_argument("--readme", action="store_true", help="rewrite README.md's benchmark table")
    parser.add_argument("--from-results", action="store_true", help="use bench/results/*.txt; run nothing")
    parser.add_argument("--quick", action="store_true", help="small inputs: checks the run works, figures unquotable")
    args = parser.parse_args(argv)
    if args.quick and args.readme:
        parser.error("--quick figures do not go into the README; drop one of --quick and --readme")
    settings = QUICK if args.quick else SCRIPTS
    RESULTS.mkdir(exist_ok=True)
    results: list[Result] = []
    for script in FIGURES:
        if args.from_results:
            results.append(saved_result(script))
            continue
        if args.only and script not in args.only:
            results.append(saved_result(script) if args.readme else Result(script, ""))
            continue
        print(f"running {' '.join([script, *settings.get(script, [])])} ...", flush=True)
        result = run_script(script, settings.get(script, []), args.quick)
        status = "missing" if result.exit_code is None else f"exit {result.exit_code}, {result.seconds:.0f} s"
        print(f"  {status}", flush=True)
        results.append(result)
    rows = collect(results)
    machine = machine_line(results)
    print(f"\nmachine: {machine}\n(outputs in {RESULTS}/)\n")
    print(render_text(rows))
    if args.readme and any(r.quick for r in results):
        quick = ", ".join(r.script for r in results if r.quick)
        raise SystemExit(f"not writing the README: {quick} ran with --quick; rerun them without it")
    if args.readme:
        text = README.read_text()
        merged = keep_earlier_rows(rows, text)
        kept = sum(a != b for a, b in zip(rows, merged, strict=True))
        if kept:  # say where those rows come from: the runs the table's note named before
            machine += f"; {kept} rows not measured in this run kept from " + earlier_runs(text)
        README.write_text(replace_between_markers(text, render_markdown(merged, machine)))
        print(f"\nrewrote the benchmark table in {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
