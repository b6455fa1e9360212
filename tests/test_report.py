"""The report from a fixture run: tables, verdict, Markdown, a self-contained HTML page in Chromium, CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fixtures.report_run import build_run

from harness.report.collect import collect_run
from harness.report.render import render_html, render_markdown, write_report


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return build_run(tmp_path / "exp")


def test_collect_computes_every_table(run_dir: Path) -> None:
    data = collect_run(run_dir.parent.parent)  # the experiment dir resolves to runs/latest
    assert data.run_id == run_dir.name and data.experiment == "support-bot"
    assert [v.variant for v in data.variants] == ["prompt", "kshot", "rag", "tuned", "tuned_rag"]
    assert data.primary_metric == {"support": "exact_match"}
    # every non-best variant is compared with the best baseline (RAG) on both metrics
    em = {c.variant: c for c in data.comparisons if c.metric == "exact_match" and c.baseline == "rag"}
    assert set(em) == {"prompt", "kshot", "tuned", "tuned_rag"}
    # fine-tuned variants are also compared with plain prompting, the starting point
    vs_prompt = {c.variant for c in data.comparisons if c.metric == "exact_match" and c.baseline == "prompt"}
    assert vs_prompt == {"tuned", "tuned_rag"}
    assert em["tuned"].test == "McNemar exact"
    assert {c.test for c in data.comparisons if c.metric == "rouge_l"} == {"paired bootstrap"}
    tuned, rag = (
        next(v for v in data.variants if v.variant == n).metrics["exact_match"].mean for n in ("tuned", "rag")
    )
    assert em["tuned"].difference == pytest.approx(tuned - rag)
    assert em["tuned"].ci95[0] <= em["tuned"].difference <= em["tuned"].ci95[1]
    assert len(data.forgetting) == 4 and data.forgetting_overall is not None
    assert data.training[0].method == "sft" and len(data.training[0].curve) == 60
    diversity = {r.variant: r for r in data.diversity}
    # the fixture's fine-tune falls back to one stock answer: less diverse than prompting
    assert diversity["tuned"].self_similarity > diversity["prompt"].self_similarity
    assert {e.direction for e in data.changed} == {"better", "worse"}
    assert all(e.change > 0 for e in data.changed if e.direction == "better")


def test_verdict_sentence_and_advice(run_dir: Path) -> None:
    data = collect_run(run_dir)
    sentence = data.verdict.sentence
    assert re.search(r"fine-tuning(\s\+ RAG)? beat RAG by \d+\.\d points, 95% CI \d+\.\d to \d+\.\d", sentence)
    assert "general skills changed by −0.8 points, 95% CI −3.1 to 1.5, not significant" in sentence
    assert data.verdict.advice_held is True and "advisor recommended sft" in (data.verdict.advice or "")


def test_markdown_has_every_section(run_dir: Path) -> None:
    text = render_markdown(collect_run(run_dir))
    for heading in (
        "## Verdict",
        "## Results by variant",
        "## Paired comparisons",
        "## General skills",
        "## Training and cost",
        "## Output diversity",
        "## Examples that changed most",
    ):
        assert heading in text
    assert "| fine-tuning | exact_match" not in text  # variants are rows, metrics are columns
    assert re.search(r"\| fine-tuning \| 0\.\d{3} \[0\.\d{3}, 0\.\d{3}\]", text)
    assert "McNemar exact" in text and "9.0 MiB" in text


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "poster", "data", "action")]


def external_references(html: str) -> list[str]:
    """Every reference in the page that is not an inline data: URI or an in-page #anchor."""
    parser = _Links()
    parser.feed(html)
    refs = parser.refs + re.findall(r"url\(\s*['\"]?([^'\")]*)", html) + re.findall(r"@import\s+['\"]?([^'\";]+)", html)
    return [r for r in refs if not r.startswith(("data:", "#"))]


# Chromium's own background services (clock sync, component updates, accounts) show up in the network
# log even with the --disable-* flags; they are not requests made by the page.
BROWSER_SERVICES = (
    "http://clients2.google.com/time/",
    "https://update.googleapis.com/service/update2/",
    "http://update.googleapis.com/service/update2/",
    "https://accounts.google.com/ListAccounts",
    "https://www.google.com/async/",  # Chromium 150's own start-up fetch (folae), whatever the page
)


def open_in_chromium(page: Path, shot: Path, profile: Path, size: str = "1200,2000") -> list[str]:
    """Screenshot ``page`` headless; return the URLs the page requested (from Chromium's network log)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("chromium is not installed (make setup installs it)")
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=1",
            f"--screenshot={shot}",
            f"--window-size={size}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert shot.is_file(), proc.stderr[-2000:]
    urls = re.findall(r"NotifyBeforeURLRequest: (\S+)", proc.stderr)
    return [u for u in urls if not u.startswith(BROWSER_SERVICES) and not u.startswith("file:")]


def test_html_page_renders_in_chromium_with_nothing_external(run_dir: Path, tmp_path: Path) -> None:
    _data, _md, html_path = write_report(run_dir)
    html = html_path.read_text()
    assert external_references(html) == []
    assert "<script" not in html and html.count("data:image/png;base64,") == 3  # variants, forgetting, training
    shot = tmp_path / "report.png"
    requested = open_in_chromium(html_path, shot, tmp_path / "profile")
    assert requested == []
    from PIL import Image, ImageStat

    image = Image.open(shot).convert("L")
    assert image.size == (1200, 2000)
    assert ImageStat.Stat(image).stddev[0] > 20  # text, tables and charts, not a blank page


def test_the_external_resource_checks_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "leaky.html"
    page.write_text(
        '<html><body><img src="https://example.com/x.png"><p style="background:url(/a.png)">x</p></body></html>'
    )
    assert external_references(page.read_text()) == ["https://example.com/x.png", "/a.png"]
    assert "https://example.com/x.png" in open_in_chromium(page, tmp_path / "leaky.png", tmp_path / "p", "400,300")


def test_cli_report_and_compare(run_dir: Path, tmp_path: Path, cli, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli("report", str(run_dir), "--json", capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["verdict"]["advice_held"] is True
    assert (run_dir / "report.html").is_file() and (run_dir / "report.md").is_file()
    other = build_run(tmp_path / "exp2", run_id="20260202-090000")
    code, out, err = cli("compare", str(run_dir), str(other), "--json", capsys=capsys)
    assert code == 0, err
    data = json.loads(out)
    assert len(data["runs"]) == 2
    row = next(r for r in data["rows"] if r["variant"] == "tuned" and r["metric"] == "exact_match")
    assert set(row["cells"]) == {run_dir.name, other.name}
    code, out, err = cli("compare", str(run_dir), str(other), capsys=capsys)
    assert code == 0 and "general skills" in out
    # the report's names and number formats, not internal ones
    assert "few-shot prompting" in out and "fine-tuning + RAG" in out
    assert not re.search(r"\b(kshot|tuned_rag)\b", out) and "−0.8" in out and "Decision:" in out


def test_a_damaged_output_is_one_line_and_the_report_shows_the_rest(
    run_dir: Path, cli, capsys: pytest.CaptureFixture[str]
) -> None:
    results = run_dir / "eval" / "tuned" / "support" / "results.jsonl"
    lines = results.read_text().splitlines()
    lines[4] = "{not json"
    results.write_text("\n".join(lines) + "\n")
    assert not (run_dir / "report.md").exists()
    code, _out, err = cli("report", str(run_dir), capsys=capsys)
    assert code == 2  # written from what could be read; the damaged file named, one line, no traceback
    assert err.strip().startswith(f"could not read: {results}:5: eval results: not valid JSON")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    data = collect_run(run_dir)
    assert "tuned" not in {v.variant for v in data.variants} and "tuned_rag" in {v.variant for v in data.variants}
    assert f"**Could not read:** {results}:5" in (run_dir / "report.md").read_text()
    assert "Could not read:</strong>" in (run_dir / "report.html").read_text()
    # a later damage never replaces a good report: the partial one goes beside it
    (run_dir / "report.md").write_text("good report")
    code, _out, err = cli("report", str(run_dir), capsys=capsys)
    assert code == 2 and (run_dir / "report.md").read_text() == "good report"
    assert f"**Could not read:** {results}:5" in (run_dir / "report.partial.md").read_text()


def test_bad_input_is_one_line_and_keeps_the_previous_report(
    run_dir: Path, cli, capsys: pytest.CaptureFixture[str]
) -> None:
    write_report(run_dir)
    before = (run_dir / "report.html").read_text()
    for results in run_dir.glob("eval/*/support/results.jsonl"):  # nothing left to report
        results.write_text("{not json\n")
    code, _out, err = cli("report", str(run_dir), capsys=capsys)
    assert code == 2
    assert ":1: eval results: not valid JSON" in err and len(err.strip().splitlines()) == 1
    assert (run_dir / "report.html").read_text() == before
    code, _out, err = cli("report", str(run_dir / "nowhere"), capsys=capsys)
    assert code == 2 and "no such directory" in err


def test_run_without_training_or_forgetting_still_reports(run_dir: Path) -> None:
    for part in ("train", "forgetting", "eval/tuned", "eval/tuned_rag"):
        shutil.rmtree(run_dir / part)
    data = collect_run(run_dir)
    assert data.training == [] and data.forgetting == []
    assert any("No forgetting check" in n for n in data.notes)
    assert "nothing was fine-tuned" in data.verdict.sentence
    assert data.verdict.advice_held is None or "no sft variant" in (data.verdict.advice or "")
    assert "No training in this run" in render_html(data, plots={})


def test_verdict_is_one_sentence_over_several_eval_sets() -> None:
    from harness.report.data import Comparison, MetricCell, VariantRow
    from harness.report.verdict import verdict_sentence

    variants, comparisons = [], []
    for eval_set in ("facts", "format"):
        for variant, mean in (("prompt", 0.2), ("tuned", 0.6)):
            cell = {"contains": MetricCell(mean=mean, ci95=(mean, mean), n=40)}
            variants.append(VariantRow(eval_set=eval_set, variant=variant, metrics=cell))
        comparisons.append(
            Comparison(eval_set=eval_set, metric="contains", variant="tuned", baseline="prompt", difference=0.4,
                       ci95=(0.2, 0.6), p_value=0.001, test="McNemar exact", n=40, wins=16, losses=0)
        )  # fmt: skip
    primary = {"facts": "contains", "format": "contains"}
    leaders = {("facts", "contains"): "prompt", ("format", "contains"): "prompt"}
    sentence = verdict_sentence(variants, comparisons, primary, leaders, None)
    assert sentence.startswith("On facts (contains), fine-tuning beat prompting by 40.0 points")
    assert "; on format (contains), fine-tuning beat" in sentence and sentence.count("On ") == 1


def test_cost_columns_and_verdict_file(run_dir: Path) -> None:
    data, md, _html = write_report(run_dir)
    costs = {c.variant: c for c in data.costs}
    assert [c.variant for c in data.costs] == ["prompt", "kshot", "rag", "tuned", "tuned_rag"]
    # the fixture's prompt tokens are 40/160/420 (+ row % 5, mean 2) and bs-1 latencies 0.5..0.9 s (+0.3 with RAG)
    assert costs["prompt"].prompt_tokens == 42 and costs["rag"].prompt_tokens == 422
    assert costs["kshot"].latency_bs1_s == 0.7 and costs["tuned_rag"].latency_bs1_s == 1.0
    assert costs["prompt"].train_wall_s is None and costs["tuned"].train_tokens == 245760
    assert costs["tuned"].adapter_size_bytes == 9_437_184 and costs["tuned"].peak_memory_mb == 1843.2
    text = md.read_text()
    assert "| few-shot prompting | 162 | 0.70 s | – | – | – | – |" in text
    assert "| fine-tuning | 42 | 0.70 s | 120 s | 245,760 | 1843 MB | 9.0 MiB |" in text
    verdict = (run_dir / "verdict.txt").read_text().splitlines()
    assert (
        verdict[0].startswith("Decision: ")
        and verdict[1].startswith("Why: ")
        and verdict[-1].startswith("The advisor recommended sft")
    )
    assert text.index("## Decision") < text.index("## Verdict") < text.index("## Results by variant")


def test_decision_is_readable_at_the_top_of_the_page(run_dir: Path, tmp_path: Path) -> None:
    """The first screen (1280×900) shows the decision block: its coloured band spans the upper part."""
    _data, _md, html_path = write_report(run_dir)
    shot = tmp_path / "top.png"
    open_in_chromium(html_path, shot, tmp_path / "profile", size="1280,900")
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    # the undecided block's background is #fffbeb (amber-50); find rows of it in the first screen
    band = [y for y in range(image.height) if image.getpixel((640, y)) == (255, 251, 235)]
    assert band and min(band) < 250 and max(band) < 900
    html = html_path.read_text()
    assert html.index('class="decision') < html.index('class="verdict"') < html.index("<h2>Results by variant")
