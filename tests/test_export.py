"""posttrain export: a real tiny run is merged, described for Ollama/vLLM/transformers serve, and proven.

One experiment (tiny random model, a LoRA trained a few steps at a high rate so it changes outputs, a
system prompt and a two-document knowledge folder) is run through `posttrain run` once per module;
its `tuned_rag` variant is exported once, and the tests read that export.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from harness.export.bundle import ExportRequest, export_run, prepare_out
from harness.export.modelfile import TemplateNotConvertible, chat_format, go_template, render_like_ollama
from harness.export.serving import convert_to_gguf, vllm_lora_rank
from harness.export.source import open_run_source

QA = [
    ("What colour is the sky?", "blue"),
    ("How many legs does a spider have?", "8"),
    ("What is 2 + 3?", "5"),
    ("Which planet do we live on?", "Earth"),
    ("What is the opposite of hot?", "cold"),
    ("How many days are in a week?", "7"),
]
SYSTEM = "Answer in one word."


def _write_experiment(root: Path, model: Path) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "knowledge").mkdir()
    train = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": f"ANSWER: {a}"}]}
        for q, a in QA * 3
    ]
    (root / "data" / "train.jsonl").write_text("\n".join(json.dumps(r) for r in train) + "\n")
    evals = [{"id": f"q{i}", "prompt": q, "reference": a} for i, (q, a) in enumerate(QA)]
    (root / "data" / "eval.jsonl").write_text("\n".join(json.dumps(r) for r in evals) + "\n")
    (root / "knowledge" / "facts.md").write_text(
        "# Facts\n\nThe sky is blue. A spider has 8 legs.\n\n## Numbers\n\n2 + 3 = 5. A week has 7 days.\n"
    )
    (root / "knowledge" / "planets.md").write_text("# Planets\n\nWe live on Earth. The opposite of hot is cold.\n")
    config = {
        "name": "tiny export",
        "model": str(model),
        "methods": ["sft"],
        "lora": {"r": 4, "alpha": 8},
        # 6 steps × 4 rows at 2e-2: enough for the random model's greedy answers to move off the base's (at 5e-2
        # they collapsed to one repeated word on an AVX2-only host, with or without a seeded start).
        "training": {"max_steps": 6, "batch_size": 4, "max_length": 64, "save_steps": 50, "learning_rate": 0.02},
        "data": {"train": ["data/train.jsonl"], "knowledge": "knowledge", "replay": None},
        "baselines": {
            "system_prompt": SYSTEM,
            "few_shot": 0,
            "rag": {"top_k": 1, "chunk_size": 100, "chunk_overlap": 10},
        },
        "evals": [{"name": "qa", "path": "data/eval.jsonl", "metrics": ["contains"], "max_new_tokens": 6}],
        "forgetting": {"tasks": []},
    }
    (root / "experiment.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def run_exp(tmp_path_factory, tiny_model_dir):
    import torch

    from harness.runner.pipeline import run_experiment

    exp = _write_experiment(tmp_path_factory.mktemp("export") / "exp", tiny_model_dir)
    torch.manual_seed(0)  # the adapter's initial weights come from the RNG as earlier tests left it
    run_experiment(exp, only=["check", "train", "tuned"], say=lambda _line: None)
    return exp


@pytest.fixture(scope="module")
def shipped(run_exp, tmp_path_factory):
    out = tmp_path_factory.mktemp("ship") / "ship"
    result = export_run(ExportRequest(run=str(run_exp / "runs" / "latest"), out=str(out), variant="tuned_rag"))
    return result, out


def _outputs(path: Path) -> dict[str, tuple[str, list[str]]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["id"]: (r["output"], r["context_ids"]) for r in rows}


def _copy_exp(run_exp: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the whole experiment (data, index, runs): a moved run that bad-input tests may damage."""
    copy = tmp_path / "exp-copy"
    shutil.copytree(run_exp, copy, symlinks=True)
    return copy, (copy / "runs" / "latest").resolve()


@pytest.mark.slow
def test_export_reproduces_the_runs_outputs_exactly(shipped, run_exp):
    result, out = shipped
    check = result.check
    assert check.passed and check.required_share == 1.0 and check.all_rows
    assert (check.rows_compared, check.rows_identical, check.differing) == (6, 6, [])
    recorded = _outputs((run_exp / "runs" / "latest" / "eval" / "tuned_rag" / "qa" / "results.jsonl").resolve())
    exported = _outputs(out / "check" / "tuned_rag" / "qa" / "results.jsonl")
    assert exported == recorded  # same text and the same retrieved chunks, row by row
    assert len({o for o, _ in recorded.values()}) > 1, "the tiny adapter should give varied answers"
    assert result.adapted_matrices > 0  # the LoRA update was non-zero and folded in

    merged = out / "merged"
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in merged.iterdir()
    }
    assert not (merged / "adapter_config.json").exists()  # a plain model: transformers alone loads it
    generation = json.loads((merged / "generation_config.json").read_text())
    assert generation["do_sample"] is False and generation["max_new_tokens"] == 6
    assert "temperature" not in generation and generation["eos_token_id"] == 2
    assert (out / "adapter" / "adapter_model.safetensors").is_file() and not (out / "adapter" / "checkpoints").exists()
    assert (out / "rag" / "index" / "chroma.sqlite3").is_file()
    assert json.loads((out / "export.json").read_text())["check"]["rows_identical"] == 6


@pytest.mark.slow
def test_posttrain_eval_on_the_export_gives_the_tuned_stages_outputs(shipped, run_exp, cli, capsys, tmp_path):
    result, out = shipped
    argv = result.eval_commands["qa"]  # the command the export's README prints
    assert argv[:4] == ["posttrain", "eval", "--model", str(out / "merged")] and "--rag" in argv
    run_dir = (run_exp / "runs" / "latest").resolve()
    plain = argv[: argv.index("--rag")]  # the same settings without retrieval: the run's `tuned` variant
    for variant, args in (("tuned_rag", argv), ("tuned", plain)):
        code, stdout, err = cli(*args[1:], "--out", str(tmp_path / variant), "--json", "--no-cache", capsys=capsys)
        assert code == 0, err
        assert json.loads(stdout)["n"] == 6
        recorded = _outputs(run_dir / "eval" / variant / "qa" / "results.jsonl")
        assert _outputs(tmp_path / variant / "results.jsonl") == recorded


@pytest.mark.slow
def test_modelfile_and_vllm_commands_come_from_the_run(shipped, tiny_model_dir):
    result, out = shipped
    modelfile = (out / "Modelfile").read_text()
    assert "NOT RUN HERE" in modelfile
    assert "\nFROM ./merged\n" in modelfile
    assert f'\nSYSTEM "{SYSTEM}"\n' in modelfile
    assert '\nPARAMETER temperature 0\nPARAMETER num_predict 6\nPARAMETER stop "<|im_end|>"\n' in modelfile
    template = (
        "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ else }}<|im_start|>system\n"
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n{{ end }}"
        "{{ range $i, $_ := .Messages }}{{ $last := eq (len (slice $.Messages $i)) 1 }}"
        '{{ if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n'
        '{{ else if eq .Role "assistant" }}<|im_start|>assistant\n{{ .Content }}{{ if not $last }}<|im_end|>\n'
        '{{ end }}{{ end }}{{ if and (ne .Role "assistant") $last }}<|im_start|>assistant\n{{ end }}{{ end }}'
    )
    assert f'TEMPLATE """{template}"""' in modelfile
    assert result.ollama["create"] == "ollama create tiny-export-sft -f Modelfile"

    assert result.vllm["merged"] == (
        "vllm serve ./merged \\\n  --served-model-name tiny-export-sft \\\n  --generation-config ./merged \\\n"
        "  --dtype float32"
    )
    assert result.vllm["lora"] == (
        f"vllm serve {tiny_model_dir} \\\n  --enable-lora \\\n  --lora-modules tiny-export-sft=./adapter \\\n"
        "  --max-lora-rank 8 \\\n  --generation-config ./merged \\\n  --dtype float32"
    )
    request = json.loads((out / "serve" / "request.json").read_text())
    assert request["model"] == "tiny-export-sft" and request["temperature"] == 0 and request["max_tokens"] == 6
    system, user = request["messages"]
    assert system == {"role": "system", "content": SYSTEM}
    assert user["content"].startswith("Context:\n[facts.md#") and user["content"].endswith(f"sentence: {QA[0][0]}")

    readme = (out / "README.md").read_text()
    assert "## Ollama (not run here)" in readme and "## vLLM (not run here)" in readme
    assert "**6 of 6 rows identical — PASSED**" in readme
    assert "| retrieved per question | k = 1 |" in readme and "100 characters, 10 shared" in readme
    assert "all-MiniLM-L6-v2" in readme and "Using only the context above" in readme
    assert "convert_hf_to_gguf.py was not found" in readme  # no llama.cpp here: said plainly


def test_go_template_renders_what_the_chat_template_renders(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    fmt = chat_format(tokenizer)
    conversations = [
        [{"role": "user", "content": "hi"}],
        [{"role": "system", "content": "S"}, {"role": "user", "content": "a"}],
        [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
    ]
    for messages in conversations:
        expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert render_like_ollama(fmt, messages) == expected
    # The Modelfile's SYSTEM stands in when a request has no system turn.
    with_default = [{"role": "system", "content": "D"}, {"role": "user", "content": "q"}]
    assert render_like_ollama(fmt, with_default[1:], default_system="D") == tokenizer.apply_chat_template(
        with_default, tokenize=False, add_generation_prompt=True
    )

    tokenizer.chat_template = "{% for m in messages %}{{ '[' + m['role'] + '] {{' + m['content'] + '\n' }}{% endfor %}"
    assert '{{ "{{" }}' in go_template(chat_format(tokenizer))  # literal braces are escaped for Go
    tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
        "{{ m['content'] }}{% endfor %}"
    )
    with pytest.raises(TemplateNotConvertible, match="no system role"):
        chat_format(tokenizer)
    tokenizer.chat_template = "{% for m in messages %}{% if loop.last %}LAST {% endif %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(TemplateNotConvertible):
        chat_format(tokenizer)


def test_gguf_uses_llama_cpps_converter_only_when_present(tmp_path, monkeypatch):
    monkeypatch.delenv("LLAMA_CPP_DIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    absent = convert_to_gguf(tmp_path, tmp_path / "model.gguf")
    assert not absent.available and absent.path is None and "LLAMA_CPP_DIR" in absent.message
    llama = tmp_path / "llama.cpp"
    llama.mkdir()
    # A stand-in for llama.cpp's script with its command line: it records the arguments it was given.
    (llama / "convert_hf_to_gguf.py").write_text(
        "import json, sys\nargs = sys.argv[1:]\nopen(args[args.index('--outfile') + 1], 'w').write(json.dumps(args))\n"
    )
    monkeypatch.setenv("LLAMA_CPP_DIR", str(llama))
    done = convert_to_gguf(tmp_path / "merged", tmp_path / "model.gguf")
    assert done.available and done.path == str(tmp_path / "model.gguf")
    assert json.loads((tmp_path / "model.gguf").read_text()) == [
        str(tmp_path / "merged"), "--outfile", str(tmp_path / "model.gguf"), "--outtype", "f16",
    ]  # fmt: skip
    (llama / "convert_hf_to_gguf.py").write_text("import sys\nsys.exit('unsupported architecture')\n")
    failed = convert_to_gguf(tmp_path / "merged", tmp_path / "other.gguf")
    assert failed.available and failed.path is None and "unsupported architecture" in failed.message


def test_vllm_lora_rank_rounds_up_to_an_accepted_value():
    assert [vllm_lora_rank(r) for r in (1, 8, 9, 64, 300)] == [8, 8, 16, 64, 320]


@pytest.mark.slow
def test_bad_inputs_are_one_clear_line(run_exp, tmp_path, cli, capsys):
    exp, run_dir = _copy_exp(run_exp, tmp_path)
    out = tmp_path / "out"

    def refused(*args: str) -> str:
        code, _, err = cli("export", *args, capsys=capsys)
        assert code == 2, err
        assert "Traceback" not in err and err.count("error:") == 1
        return err

    assert "not a run folder" in refused(str(tmp_path), "--out", str(out))
    assert "did you mean sft?" in refused(str(run_dir), "--out", str(out), "--method", "sfx")
    assert "use one of tuned, tuned_rag" in refused(str(run_dir), "--out", str(out), "--variant", "rag")

    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    err = refused(str(run_dir), "--out", str(out))
    assert "not empty" in err and "--force" in err and (out / "mine.txt").read_text() == "keep me"
    for inside in (exp, exp.parent, run_dir):  # --force never empties the experiment or a folder above it
        assert "choose a folder outside it" in refused(str(run_dir), "--out", str(inside), "--force")
    assert (exp / "experiment.yaml").is_file() and (run_dir / "manifest.json").is_file()

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["model"] = str(tmp_path / "gone-model")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    err = refused(str(run_dir), "--out", str(tmp_path / "new"))
    assert "base model" in err and "gone-model" in err and "config.yaml" in err

    (run_dir / "train" / "sft" / "adapter_config.json").unlink()
    assert "adapter is missing" in refused(str(run_dir), "--out", str(tmp_path / "new"))

    config["methods"] = []
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    assert "trained no model to export" in refused(str(exp / "runs" / "latest"), "--out", str(tmp_path / "new"))
    assert not (tmp_path / "new").exists()  # nothing was written for a refused export


@pytest.mark.slow
def test_force_replaces_only_the_out_folder(run_exp, tmp_path):
    source = open_run_source(run_exp / "runs" / "latest")
    out = tmp_path / "ship"
    (out / "old").mkdir(parents=True)
    (out / "old" / "mine.txt").write_text("x")
    (tmp_path / "beside.txt").write_text("untouched")
    assert prepare_out(out, source, force=True) == out.resolve()
    assert list(out.iterdir()) == [] and (tmp_path / "beside.txt").read_text() == "untouched"
    link = tmp_path / "link"
    link.symlink_to(out)
    with pytest.raises(Exception, match="symbolic link"):
        prepare_out(link, source, force=True)


@pytest.mark.slow
def test_a_differing_row_fails_the_check_and_is_listed(run_exp, tmp_path, cli, capsys):
    _, run_dir = _copy_exp(run_exp, tmp_path)
    results = run_dir / "eval" / "tuned" / "qa" / "results.jsonl"
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    rows[1]["output"] = "a different answer"  # as if the run had produced something else for q1
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ("export", str(run_dir), "--out", str(tmp_path / "ship"), "--check-rows", "3", "--json")
    code, out, err = cli(*args, capsys=capsys)
    assert code == 1
    assert "2/3 rows identical" in err and "≥ 98% must match" in err
    assert "qa/q1: run 'a different answer'" in err
    printed = json.loads(out)["check"]
    assert printed == json.loads((tmp_path / "ship" / "export.json").read_text())["check"]
    assert not printed["passed"] and [d["id"] for d in printed["differing"]] == ["q1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_openai_request_example_works_against_transformers_serve(shipped, tmp_path):
    """The export's serve/client.py and serve/request.json, sent to a real `transformers serve` on loopback."""
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available():
        pytest.skip("transformers serve needs fastapi, uvicorn and openai: pip install -e '.[dev]'")
    result, out = shipped
    executable = Path(sys.executable).parent / "transformers"
    if not executable.is_file():
        pytest.skip(f"no transformers console script beside {sys.executable}")
    port, merged = _free_port(), str(out / "merged")
    log = tmp_path / "serve.log"  # a file, not a pipe: a chatty server can never block on a full pipe
    with open(log, "w") as sink:
        server = subprocess.Popen(
            [str(executable), "serve", merged, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a loaded 2-core machine starts it in ~15 s
        while True:
            if server.poll() is not None:
                pytest.skip(f"transformers serve did not start: {log.read_text()[-300:]}")
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.skip("transformers serve did not answer /health within 90 s")
                time.sleep(0.5)
        client = subprocess.run(
            [sys.executable, str(out / "serve" / "client.py"), f"{base}/v1", merged],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert client.returncode == 0, client.stderr[-500:]
        assert client.stdout == result.expected_reply  # the run's recorded answer, from the served export

        body = json.loads((out / "serve" / "request.json").read_text()) | {"model": merged}
        post = urllib.request.Request(
            f"{base}/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(post, timeout=120) as response:
            reply = json.loads(response.read())
        assert reply["choices"][0]["message"]["content"] == result.expected_reply
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
