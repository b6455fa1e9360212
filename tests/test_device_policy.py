"""One device and precision policy: every stage asks `resolve_placement`, and the model lands where it says.

A `FakeProbe` describes a CUDA machine on this CPU one: there the resolver answers cuda, and a stage that
follows it tries to put the model on the GPU, which the CPU build of torch refuses ("not compiled with CUDA").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.outside import adapter_made_elsewhere

from harness.models.device import FakeProbe, resolve_placement, using_probe
from posttrain.errors import BadInput

GPU = FakeProbe(cuda=True, bf16=True)
NO_CUDA = pytest.raises((AssertionError, RuntimeError), match=r"CUDA|cuda")


@pytest.mark.parametrize(
    ("probe", "device", "precision", "purpose", "expected"),
    [
        (GPU, "auto", "auto", "infer", "cuda/bf16"),
        (GPU, "auto", "auto", "train", "cuda/bf16"),
        (FakeProbe(cuda=True), "auto", "auto", "infer", "cuda/fp16"),
        (GPU, "cpu", "auto", "infer", "cpu/fp32"),
        (GPU, "auto", "fp32", "infer", "cuda/fp32"),
        (FakeProbe(), "auto", "auto", "infer", "cpu/fp32"),
        (FakeProbe(cpu_bf16_units=True), "auto", "auto", "train", "cpu/bf16"),
        (FakeProbe(cpu_bf16_units=True), "auto", "auto", "infer", "cpu/fp32"),
        (FakeProbe(), "cpu", "bf16", "infer", "cpu/bf16"),
    ],
)
def test_resolver(probe: FakeProbe, device: str, precision: str, purpose: str, expected: str) -> None:
    with using_probe(probe):
        assert resolve_placement(device, precision, purpose).line() == expected  # type: ignore[arg-type]


def test_asking_for_an_absent_device_is_bad_input() -> None:
    with using_probe(FakeProbe()), pytest.raises(BadInput, match=r"compute\.device cuda: no CUDA device here"):
        resolve_placement("cuda")
    with using_probe(FakeProbe()), pytest.raises(BadInput, match=r"compute\.device mps"):
        resolve_placement("mps")


def test_training_resolves_through_the_policy(tmp_path: Path, tiny_model_dir: Path) -> None:
    from harness.training import build_request, train
    from harness.training.stage import resolve_device, resolve_precision

    with using_probe(GPU):
        assert (resolve_device("auto"), resolve_precision("auto", "cuda")) == ("cuda", "bf16")
    data = Path(__file__).resolve().parent.parent / "examples" / "persona" / "sft.jsonl"
    request = build_request(method="sft", model=str(tiny_model_dir), data=[str(data)], out=tmp_path / "o", max_steps=1)
    request = request.model_copy(update={"compute": request.compute.model_copy(update={"device": "cuda"})})
    with using_probe(FakeProbe()), pytest.raises(BadInput, match="no CUDA device here"):
        train(request)


def test_loading_for_inference_follows_the_policy(tiny_model_dir: Path) -> None:
    """The loader best-of-N, distillation and evaluation share."""
    from harness.models import load_model_and_tokenizer

    model, _ = load_model_and_tokenizer(str(tiny_model_dir))
    assert (next(model.parameters()).device.type, str(next(model.parameters()).dtype)) == ("cpu", "torch.float32")
    model, _ = load_model_and_tokenizer(str(tiny_model_dir), device="cpu", precision="bf16")
    assert str(next(model.parameters()).dtype) == "torch.bfloat16"
    with using_probe(GPU), NO_CUDA:
        load_model_and_tokenizer(str(tiny_model_dir))


def test_distillation_teacher_follows_the_policy(tiny_model_dir: Path) -> None:
    from harness.datagen.teacher import LocalTeacher

    teacher = LocalTeacher(str(tiny_model_dir), max_new_tokens=2, temperature=0.0)
    assert next(teacher.model.parameters()).device.type == "cpu"
    with using_probe(GPU), NO_CUDA:
        LocalTeacher(str(tiny_model_dir), max_new_tokens=2, temperature=0.0)


def test_best_of_n_follows_the_policy(tmp_path: Path, tiny_model_dir: Path) -> None:
    from harness.datagen.best_of_n import best_of_n

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "1+1?", "answer": "2"}) + "\n")
    with using_probe(GPU), NO_CUDA:
        best_of_n(prompts, str(tiny_model_dir), 2, "numeric_answer", tmp_path / "out.jsonl", max_new_tokens=2)


def test_evaluation_runs_where_the_policy_says(tmp_path: Path, tiny_model_dir: Path) -> None:
    from harness.evaluation.runner import EvalRequest, evaluate

    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"id": "a", "prompt": "2+3?", "reference": "5"}) + "\n")
    common = {"data": str(data), "model": str(tiny_model_dir), "metrics": ["contains"], "max_new_tokens": 2}
    auto = evaluate(EvalRequest(**common, out=str(tmp_path / "auto"), use_cache=False))
    assert auto.ran_on == "cpu/float32"  # before: always CPU fp32, whatever the machine
    bf16 = evaluate(EvalRequest(**common, precision="bf16", out=str(tmp_path / "bf16"), use_cache=False))
    assert bf16.ran_on == "cpu/bfloat16"
    with using_probe(GPU), NO_CUDA:
        evaluate(EvalRequest(**common, out=str(tmp_path / "gpu"), use_cache=False))


def test_forgetting_check_runs_where_the_policy_says(tmp_path: Path, tiny_model_dir: Path) -> None:
    from harness.forgetting import run_forgetting_check

    adapter = adapter_made_elsewhere(tiny_model_dir, tmp_path / "lora")
    result = run_forgetting_check(tiny_model_dir, adapter, limit=2, precision="bf16", device="cpu")
    assert result.ran_on == "cpu/bf16"
    with using_probe(FakeProbe()), pytest.raises(BadInput, match="no CUDA device here"):
        run_forgetting_check(tiny_model_dir, adapter, limit=2, device="cuda")


def test_eval_command_takes_device_and_precision_through_the_policy(
    tmp_path: Path, tiny_model_dir: Path, cli, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.evaluation.cli import _placement

    with using_probe(GPU):  # auto on a bf16 GPU machine: cuda in bf16
        assert _placement("auto", "auto") == ("cuda", "bf16")
    with using_probe(FakeProbe(cuda=True)):
        assert _placement("auto", "auto") == ("cuda", "fp16")
    with using_probe(FakeProbe()):
        assert _placement("auto", "auto") == ("cpu", "fp32")
    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"id": "a", "prompt": "2+3?", "reference": "5"}) + "\n")
    args = ["eval", "--data", str(data), "--model", str(tiny_model_dir), "--metrics", "contains"]
    args += ["--max-new-tokens", "2", "--no-cache"]
    # one model run (the tiny model, 2 tokens): where it ran is printed, and recorded in summary.json
    code, out, err = cli(*args, "--device", "cpu", "--precision", "bf16", "--out", str(tmp_path / "a"), capsys=capsys)
    assert code == 0, err
    assert "ran on cpu/bfloat16" in out
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["ran_on"] == "cpu/bfloat16"
    with using_probe(FakeProbe()):
        code, _, err = cli(*args, "--device", "cuda", capsys=capsys)
    assert code == 2 and err.strip() == "error: --device cuda: no CUDA device here; use auto or cpu"
    code, _, err = cli(*args, "--precision", "fp8", capsys=capsys)
    assert code == 2 and "--precision fp8: unknown" in err and "Traceback" not in err
