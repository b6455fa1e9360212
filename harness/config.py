"""``experiment.yaml``: the one schema that ``posttrain new`` writes and every stage reads.

Every field is documented once, here, in its ``Field(description=...)``. Paths are relative to the
directory that holds the YAML file. Validation errors read ``file:line: field.path: message``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from posttrain.errors import BadInput, validation_lines

Method = Literal["sft", "dpo", "grpo", "reward"]
CONFIG_FILE = "experiment.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Advised(_Strict):
    primary: Literal["prompting", "rag", "sft", "dpo", "rl"] = Field(
        description="What `posttrain advise` recommended first; the report says whether it held."
    )
    plan: list[str] = Field(default_factory=list, description="The advisor's ordered plan, e.g. [rag, sft].")


class LoraSettings(_Strict):
    full_finetune: bool = Field(False, description="Train every weight instead of a LoRA adapter (explicit opt-in).")
    r: int = Field(16, ge=1, le=1024, description="LoRA rank: the adapter's width per adapted matrix.")
    alpha: int = Field(32, ge=1, description="LoRA scaling numerator; the update is scaled by alpha / r.")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA branch.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Modules that get adapters: 'all-linear' or names like [q_proj, v_proj]."
    )
    qlora: bool = Field(False, description="Load the base model in 4 bits (needs CUDA and bitsandbytes).")


class TrainingSettings(_Strict):
    max_steps: int | None = Field(None, ge=1, description="Optimizer steps; overrides epochs when set.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training data when max_steps is not set.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate (LoRA tolerates ~10x full-FT rates).")
    batch_size: int = Field(8, ge=1, description="Examples per device per micro-batch.")
    gradient_accumulation: int = Field(1, ge=1, description="Micro-batches summed into one optimizer step.")
    max_length: int = Field(512, ge=16, description="Longest tokenised example; longer ones are truncated.")
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0, description="Share of steps spent warming up the rate.")
    seed: int = Field(42, description="Seed for data order, LoRA init and sampling.")
    packing: bool = Field(False, description="Pack several short SFT examples into one sequence.")
    save_steps: int = Field(50, ge=1, description="Checkpoint every this many steps (resume starts there).")
    logging_steps: int = Field(1, ge=1, description="Log loss/reward every this many steps.")
    dpo_beta: float = Field(0.1, gt=0, description="DPO: strength of the pull toward the reference model.")
    num_generations: int = Field(4, ge=2, description="GRPO: completions sampled per prompt (the group).")
    max_completion_length: int = Field(64, ge=1, description="GRPO: longest sampled completion in tokens.")

    @property
    def tokens_per_step(self) -> int:
        """Upper bound of tokens per optimizer step: batch × accumulation × max_length."""
        return self.batch_size * self.gradient_accumulation * self.max_length


class TrainSource(_Strict):
    path: str = Field(description="A data file (JSONL, JSON, CSV, Parquet) or a `datasets` name.")
    weight: float = Field(1.0, gt=0, description="Relative share of this source in the training mix.")


class ReplaySettings(_Strict):
    path: str = Field(
        "builtin:general",
        description="General instruction data mixed in against forgetting; 'builtin:general' "
        "is the small set shipped with posttrain.",
    )
    fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Share of training examples drawn from replay data.")


class DataPaths(_Strict):
    train: list[TrainSource] = Field(default_factory=list, description="SFT sources with mixing weights.")
    preference: str | None = Field(None, description="DPO / reward-model pairs: prompt, chosen, rejected.")
    prompts: str | None = Field(None, description="GRPO prompts with the reference columns rewards read.")
    knowledge: str | None = Field(None, description="Folder or file of documents for the RAG baseline.")
    replay: ReplaySettings | None = Field(None, description="Replay of general data; null turns it off.")

    @field_validator("train", mode="before")
    @classmethod
    def _one_path(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [{"path": value}]
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value


class RagSettings(_Strict):
    top_k: int = Field(3, ge=1, le=50, description="Chunks retrieved per question.")
    chunk_size: int = Field(800, ge=50, description="Characters per chunk.")
    chunk_overlap: int = Field(100, ge=0, description="Characters shared by neighbouring chunks.")
    chroma_url: str | None = Field(None, description="A Chroma server (http://host:port) instead of the local store.")


class Baselines(_Strict):
    system_prompt: str | None = Field(None, description="System prompt of every variant (prompt baseline too).")
    few_shot: int = Field(3, ge=0, le=32, description="k for the k-shot baseline, drawn from training data.")
    rag: RagSettings = Field(default_factory=RagSettings, description="Retrieval baseline settings.")


class EvalSet(_Strict):
    name: str = Field("eval", pattern=r"^[A-Za-z0-9_.-]+$", description="Short name used in the report.")
    path: str = Field(description="Eval rows: prompt or messages, reference, optional tests/choices/id.")
    metrics: list[str] = Field(
        default_factory=lambda: ["exact_match"],
        min_length=1,
        description="Metric names: exact_match, contains, regex, numeric, f1, rouge_l, choice, unit_tests, judge.",
    )
    max_new_tokens: int = Field(128, ge=1, description="Longest generated answer.")
    limit: int | None = Field(None, ge=1, description="Evaluate only the first N rows (quick runs).")


class RewardSpec(_Strict):
    name: str = Field(description="A built-in reward (e.g. numeric_answer) or 'rewards.py:function'.")
    weight: float = Field(1.0, description="Weight of this reward in the sum GRPO maximises.")


class ForgettingSettings(_Strict):
    tasks: list[str] = Field(
        default_factory=lambda: ["posttrain_general"],
        description="lm-eval tasks; 'posttrain_general' is the offline probe shipped with posttrain.",
    )
    limit: int | None = Field(None, ge=1, description="Items per task (quick runs); null for all.")


class ComputeSettings(_Strict):
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="Where to run.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field("auto", description="Training/eval dtype.")
    launcher: Literal["none", "accelerate"] = Field(
        "none", description="'accelerate' runs training under accelerate launch."
    )
    num_processes: int = Field(1, ge=1, description="Processes for accelerate launch (GPUs, or CPU workers).")
    accelerate_config: str | None = Field(None, description="An accelerate config file, e.g. accelerate/ddp.yaml.")


class ExperimentConfig(_Strict):
    name: str = Field(description="The experiment's name, used in reports.")
    model: str = Field("smollm2-135m", description="Base model: 'smollm2-135m', a model directory or a hub id.")
    methods: list[Method] = Field(
        default_factory=lambda: list[Method](["sft"]), description="Training plan in order, e.g. [sft], [sft, dpo], [grpo]."
    )
    advised: Advised | None = Field(None, description="The advice that produced this experiment, if any.")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="Adapter settings.")
    training: TrainingSettings = Field(default_factory=TrainingSettings, description="Optimiser and schedule.")
    data: DataPaths = Field(default_factory=DataPaths, description="Training and knowledge data.")
    baselines: Baselines = Field(default_factory=Baselines, description="What every fine-tune must beat.")
    evals: list[EvalSet] = Field(min_length=1, description="Eval sets, each with its metrics.")
    rewards: list[RewardSpec] = Field(default_factory=list, description="GRPO rewards, summed with weights.")
    forgetting: ForgettingSettings = Field(default_factory=ForgettingSettings, description="General-skill check.")
    compute: ComputeSettings = Field(default_factory=ComputeSettings, description="Device, precision, launcher.")

    @model_validator(mode="after")
    def _data_for_methods(self) -> ExperimentConfig:
        if "sft" in self.methods and not self.data.train:
            raise ValueError("methods has sft but data.train is empty")
        if ("dpo" in self.methods or "reward" in self.methods) and not self.data.preference:
            raise ValueError("methods has dpo/reward but data.preference is not set")
        if "grpo" in self.methods:
            if not self.data.prompts:
                raise ValueError("methods has grpo but data.prompts is not set")
            if not self.rewards:
                raise ValueError("methods has grpo but rewards is empty")
        return self


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate ``experiment.yaml`` (or a directory holding one)."""
    import yaml

    file = Path(path)
    if file.is_dir():
        file = file / CONFIG_FILE
    if not file.is_file():
        raise BadInput(f"{file}: no experiment config here; create one with `posttrain new DIR`")
    text = file.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        raise BadInput(f"{where}: not valid YAML: {getattr(error, 'problem', error)}") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{file}:1: the config must be a mapping of fields (name, model, methods, ...)")
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as error:
        lines = []
        for err, line in zip(error.errors(), validation_lines(error), strict=True):
            lines.append(f"{file}:{_line_of(node, err['loc'])}: {line}")
        raise BadInput("\n".join(lines)) from None


def _line_of(node: Any, loc: tuple[Any, ...]) -> int:
    """The 1-based YAML line of the deepest node along ``loc`` (the parent when the key is missing)."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            key = next((k for k, _ in node.value if k.value == part), None)
            if match is None:
                break
            line = key.start_mark.line + 1 if key is not None else line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def resolve_path(config_file: Path, value: str | None) -> Path | None:
    """Resolve a config path relative to the config's folder; ``builtin:`` and hub names pass through."""
    if value is None or value.startswith("builtin:"):
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else (config_file.parent / path)
