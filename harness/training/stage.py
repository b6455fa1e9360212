"""``train(request)``: validate everything, then run one TRL trainer into a PEFT adapter directory.

Order matters: every check that can fail on the user's input (method, data format, rewards, batch
shape, adapter, output dir) runs before the model is loaded, so bad input never costs a training run.
A rerun of the same request resumes from ``OUT/checkpoints``; a finished one is returned as it is.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from harness.training.callbacks import TrainSummary, metrics_callback, peak_memory_mb, quiet_progress
from harness.training.request import TrainRequest
from posttrain import collector
from posttrain.errors import BadInput

SUMMARY_FILE = "train_summary.json"
PROVENANCE_FILE = "provenance.json"
CHECKPOINTS = "checkpoints"
LAUNCHED_ENV = "POSTTRAIN_LAUNCHED"  # set by the accelerate launcher: the child must not relaunch


def train(request: TrainRequest) -> TrainSummary:
    """Train ``request.method`` into ``request.out``; resumes, or returns a finished run untouched."""
    from harness.training.methods import method_named
    from harness.training.methods.grpo import check_batch, reward_functions
    from harness.training.prepare import eval_rows, training_split

    spec = method_named(request.method)
    if not spec.runs_here:
        from harness.training.methods.ppo import refusal

        raise BadInput(refusal() if spec.name == "ppo" else f"--method {spec.name}: {spec.summary}; nothing to train")
    out = Path(request.out)
    _check_paths(request, out)
    rows, held_out = training_split(request)
    evals = eval_rows(request) or held_out  # an explicit --eval file replaces the split
    _check_early_stopping(request, evals is not None)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if request.compute.launcher == "accelerate" and LAUNCHED_ENV not in os.environ:
        world = request.compute.num_processes
    rewards = None
    if spec.needs_rewards:
        check_batch(request, world)
        rewards = reward_functions(request, rows)
    finished = _finished(out, request)
    if finished is not None:
        return finished
    _check_chat_template(request)
    if request.compute.launcher == "accelerate" and LAUNCHED_ENV not in os.environ:
        from harness.training.launcher import launch

        return launch(request)
    return _run(request, out, rows, evals, rewards)


def _check_paths(request: TrainRequest, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: is a file; give a directory for the adapter")
    if request.adapter is not None:
        if request.method == "reward":
            raise BadInput("--adapter: a reward model starts from the base model; drop --adapter for --method reward")
        if not (Path(request.adapter) / "adapter_config.json").is_file():
            raise BadInput(f"--adapter {request.adapter}: no adapter_config.json there; pass a PEFT adapter directory")
    ckpt = out / CHECKPOINTS / "request.json"
    if ckpt.is_file() and json.loads(ckpt.read_text())["fingerprint"] != request.fingerprint():
        raise BadInput(
            f"--out {out}: holds checkpoints of a run with other settings; resume with the same settings, "
            "or give another --out (nothing was deleted)"
        )


def _check_early_stopping(request: TrainRequest, has_validation: bool) -> None:
    from harness.training.validation import SPLIT_METHODS

    if request.training.early_stopping_patience is None or has_validation:
        return
    if request.method not in SPLIT_METHODS:
        raise BadInput(
            f"training.early_stopping_patience: --method {request.method} has no validation loss to watch "
            "(online RL optimises sampled rewards); unset it"
        )
    if request.training.validation_fraction == 0:
        raise BadInput(
            "training.early_stopping_patience: needs a validation split; set training.validation_fraction > 0 "
            "or give --eval FILE"
        )
    # Too few rows to split: the notice above said so; train to the end.


def _check_chat_template(request: TrainRequest) -> None:
    """A chosen template that is missing or would never let the model stop fails here, on the tokenizer alone."""
    from harness.models.loading import tokenizer_for
    from harness.training.chat_template import prepare_chat_template

    tokenizer = tokenizer_for(request.model, request.adapter)
    prepare_chat_template(tokenizer, None, request.training.chat_template, request.base_dir, announce=False)


def _finished(out: Path, request: TrainRequest) -> TrainSummary | None:
    summary_file, provenance_file = out / SUMMARY_FILE, out / PROVENANCE_FILE
    if not summary_file.is_file() or not provenance_file.is_file():
        return None
    provenance = json.loads(provenance_file.read_text())
    summary = TrainSummary.model_validate_json(summary_file.read_text())
    if provenance.get("fingerprint") != request.fingerprint():
        raise BadInput(
            f"--out {out}: already holds a finished {summary.method} adapter trained with other settings; "
            "give another --out or delete it yourself"
        )
    wanted = request.training.max_steps
    if wanted is not None and summary.steps < wanted and not summary.stopped_early:
        return None  # more steps asked for: continue from the last checkpoint
    if request.merge and summary.merged_path is None:
        return None
    return summary


def resolve_precision(precision: str, device: str) -> str:
    """Training precision on ``device`` (see :func:`harness.models.device.resolve_placement`)."""
    from harness.models.device import resolve_placement

    return resolve_placement(device, precision, purpose="train").precision


def resolve_device(device: str) -> str:
    from harness.models.device import resolve_placement

    return resolve_placement(device, "fp32", purpose="train").device


def common_args(request: TrainRequest, out: Path, device: str, precision: str, has_eval: bool) -> dict[str, Any]:
    """TrainingArguments every method shares (TRL's defaults differ from what short LoRA runs want)."""
    from harness.training.validation import best_metric

    t = request.training
    metric, greater_is_better = best_metric(request.method)
    return {
        "output_dir": str(out / CHECKPOINTS),
        "max_steps": t.max_steps or -1,
        "num_train_epochs": t.epochs,
        "per_device_train_batch_size": t.batch_size,
        "per_device_eval_batch_size": t.batch_size,
        "gradient_accumulation_steps": t.gradient_accumulation,
        "learning_rate": t.learning_rate,
        "warmup_steps": t.warmup_ratio,  # a float < 1 is a share of the steps
        "logging_steps": t.logging_steps,
        "save_strategy": "steps",
        "save_steps": t.save_steps,
        "save_total_limit": 2,  # the latest (to resume) and, with a validation split, the best
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": t.save_steps,  # equal to save_steps: every evaluated step has a checkpoint to keep
        # The adapter written to OUT is the checkpoint with the best validation metric (the Trainer also
        # evaluates and saves the last step, so the end of training competes too).
        "load_best_model_at_end": has_eval,
        "metric_for_best_model": metric if has_eval else None,
        "greater_is_better": greater_is_better if has_eval else None,
        "seed": t.seed,
        "data_seed": t.seed,
        "report_to": "none",  # TensorBoard is added as a callback writing to OUT/runs
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        # TRL turns it on by default; small models on CPU only lose time by it, so it is opt-in (the dry-run's
        # memory plan says when a model needs it). Non-reentrant: LoRA's frozen inputs need no requires_grad hack.
        "gradient_checkpointing": t.gradient_checkpointing,
        "gradient_checkpointing_kwargs": {"use_reentrant": False} if t.gradient_checkpointing else None,
        "disable_tqdm": not request.progress,
        # GRPO's batches hold prompt_ids/completion_ids, not input_ids; it counts its own num_tokens.
        "include_num_input_tokens_seen": "no" if request.method in ("grpo", "rloo") else "non_padding",
        "use_cpu": device == "cpu",
        "dataloader_num_workers": 0,
        "ddp_backend": "gloo" if device == "cpu" and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
    }


def _load(request: TrainRequest, device: str) -> tuple[Any, Any]:
    import torch

    from harness.models import load_model_and_tokenizer, resolve_model
    from harness.models.loading import load_tokenizer, tokenizer_for
    from harness.training.lora import quantization_config

    quant = quantization_config(request.lora)
    if request.method == "reward":
        from transformers import AutoModelForSequenceClassification

        tokenizer = load_tokenizer(str(resolve_model(request.model)))
        model = AutoModelForSequenceClassification.from_pretrained(
            resolve_model(request.model), num_labels=1, dtype=torch.float32, quantization_config=quant
        )
        model.config.pad_token_id = tokenizer.pad_token_id
        return model, tokenizer
    if quant is not None:
        from transformers import AutoModelForCausalLM

        tokenizer = tokenizer_for(request.model, request.adapter)
        model = AutoModelForCausalLM.from_pretrained(resolve_model(request.model), quantization_config=quant)
        if request.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, request.adapter, is_trainable=True)
        return model, tokenizer
    model, tokenizer = load_model_and_tokenizer(request.model, adapter=request.adapter, for_training=True)
    model.train()
    return model, tokenizer


def _run(
    request: TrainRequest,
    out: Path,
    rows: list[dict[str, Any]],
    evals: list[dict[str, Any]] | None,
    rewards: Any,
) -> TrainSummary:
    from datasets import Dataset
    from transformers.integrations import TensorBoardCallback

    from harness.models.device import resolve_placement
    from harness.training.chat_template import check_stop_trained, prepare_chat_template
    from harness.training.lora import frozen_to_bf16, is_peft_model, lora_config, trainable_parameters
    from harness.training.lora_kernel import fuse_lora_layers
    from harness.training.methods import method_named
    from harness.training.provenance import write_outputs

    placement = resolve_placement(request.compute.device, request.compute.precision, purpose="train")
    device, precision = placement.device, placement.precision
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = out / CHECKPOINTS
    checkpoints.mkdir(exist_ok=True)
    is_main = int(os.environ.get("RANK", "0")) == 0
    if is_main:
        (checkpoints / "request.json").write_text(json.dumps({"fingerprint": request.fingerprint()}))
    last = last_checkpoint(checkpoints)

    model, tokenizer = _load(request, device)
    collector.settle()  # the libraries and the model are in memory: see posttrain.collector
    prepare_chat_template(tokenizer, model, request.training.chat_template, request.base_dir)
    peft = None if request.adapter else lora_config(request.lora, request.method)
    common = common_args(request, out, device, precision, evals is not None)
    train_ds = Dataset.from_list(rows)
    eval_ds = Dataset.from_list(evals) if evals else None
    build = method_named(request.method).build
    assert build is not None  # train() refused methods that do not train here
    trainer = build(request, model, tokenizer, common, train_ds, eval_ds, peft, rewards)
    # SFT only so far: every one of its forward passes runs under the Trainer's autocast (GRPO generates outside it)
    downcast = device == "cpu" and precision == "bf16" and request.method == "sft" and is_peft_model(trainer.model)
    if downcast:  # bf16 autocast on the CPU would cast every frozen weight again at every forward pass
        frozen_to_bf16(trainer.model, autocast_only=True)
        fuse_lora_layers(trainer.model)  # each adapter's scaling and sum folded into its matmuls
    if request.method == "sft":
        check_stop_trained(trainer, tokenizer, request.training.max_length)
    stopper = _early_stopping(request, trainer, eval_ds is not None)
    quiet_progress(trainer, request.progress)
    trainer.add_callback(metrics_callback(out))
    tensorboard = TensorBoardCallback()
    tensorboard.logging_dir = str(out / "runs")
    trainer.add_callback(tensorboard)
    trainable, total = trainable_parameters(trainer.model)

    start_step = 0
    if last is not None:
        start_step = json.loads((Path(last) / "trainer_state.json").read_text())["global_step"]
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=last)
    wall = time.perf_counter() - started
    state = trainer.state
    tokens = int(state.num_input_tokens_seen or 0) or _logged_tokens(state.log_history)
    session_tokens = tokens - int(getattr(trainer, "_initial_num_input_tokens_seen", 0) or 0)
    if not is_main:
        return TrainSummary(
            method=request.method, steps=state.global_step, tokens=tokens, tokens_per_s=0.0, wall_s=wall,
            peak_memory_mb=peak_memory_mb(), adapter_size_bytes=0, adapter_path=str(out),
        )  # fmt: skip
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    summary = TrainSummary(
        method=request.method,
        steps=state.global_step,
        tokens=tokens,
        tokens_per_s=round(max(session_tokens, 0) / wall, 1) if wall > 0 else 0.0,
        wall_s=round(wall, 2),
        peak_memory_mb=round(peak_memory_mb(), 1),
        adapter_size_bytes=_weights_size(out),
        adapter_path=str(out),
        resumed_from_step=start_step,
        trainable_params=trainable,
        total_params=total,
        **_validation_outcome(request, state, stopper, len(evals or [])),
    )
    if request.merge:
        summary.merged_path = str(_merge(trainer.model, tokenizer, out, request.model if downcast else None))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    write_outputs(request, out, summary, precision=precision, device=device, world_size=world_size)
    return summary


def _early_stopping(request: TrainRequest, trainer: Any, has_validation: bool) -> Any:
    patience = request.training.early_stopping_patience
    if patience is None or not has_validation:
        return None
    from transformers import EarlyStoppingCallback

    stopper = EarlyStoppingCallback(early_stopping_patience=patience)
    trainer.add_callback(stopper)
    return stopper


def _validation_outcome(request: TrainRequest, state: Any, stopper: Any, rows: int) -> dict[str, Any]:
    """Which checkpoint the adapter in OUT is (the Trainer loaded the best one at the end) and why."""
    from harness.training.validation import best_metric, checkpoint_step

    if not rows:
        return {}
    stopped = (
        stopper is not None
        and stopper.early_stopping_patience_counter >= stopper.early_stopping_patience
        and state.global_step < state.max_steps
    )
    return {
        "validation_rows": rows,
        "best_step": checkpoint_step(state.best_model_checkpoint),
        "best_metric": best_metric(request.method)[0],
        "best_value": state.best_metric,
        "stopped_early": stopped,
    }


def last_checkpoint(folder: Path) -> str | None:
    """The newest complete checkpoint: the Trainer writes ``trainer_state.json`` last, so a checkpoint
    cut short by a kill lacks it and is skipped (it is overwritten when training reaches that step again)."""
    complete = [
        (int(d.name.split("-")[-1]), d)
        for d in folder.glob("checkpoint-*")
        if d.name.split("-")[-1].isdigit() and (d / "trainer_state.json").is_file()
    ]
    return str(max(complete)[1]) if complete else None


def _logged_tokens(history: list[dict[str, Any]]) -> int:
    """GRPO counts its own tokens (prompt + completion) under ``num_tokens``."""
    for entry in reversed(history):
        if "num_tokens" in entry:
            return int(entry["num_tokens"])
    return 0


def _weights_size(out: Path) -> int:
    return sum(f.stat().st_size for f in out.glob("*.safetensors")) + sum(f.stat().st_size for f in out.glob("*.bin"))


def _merge(model: Any, tokenizer: Any, out: Path, reload: str | None = None) -> Path:
    """Write ``OUT/merged``: the base model with the adapter folded in (a full model vLLM or HF can load).

    ``reload`` names the base model when the trained one holds its frozen weights in bf16 (:func:`frozen_to_bf16`):
    the adapter saved in ``out`` is then merged into that base read again in fp32, not into the rounded copy.
    """
    merged_dir = out / "merged"
    unwrapped = model
    if reload is not None:
        from harness.models import load_model_and_tokenizer

        unwrapped = load_model_and_tokenizer(reload, adapter=out, dtype="float32", device="cpu")[0].merge_and_unload()
    elif hasattr(unwrapped, "merge_and_unload"):
        import copy

        unwrapped = copy.deepcopy(unwrapped).merge_and_unload()
    unwrapped.save_pretrained(merged_dir, safe_serialization=True)
    tokenizer.save_pretrained(merged_dir)
    return merged_dir
