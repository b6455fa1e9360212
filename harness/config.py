"""``experiment.yaml``: the one schema that ``posttrain new`` writes and every stage reads.

Every field is documented once, here, in its ``Field(description=...)``. Paths are relative to the
directory that holds the YAML file. Validation errors read ``file:line: field.path: message``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness.config_moved import Notify
from harness.training.methods import MethodSection, MethodSpec, registry
from harness.training.methods.dpo import DpoSettings
from harness.training.methods.external import ExternalSettings
from harness.training.methods.grpo import GrpoSettings
from harness.training.methods.kto import KtoSettings
from harness.training.methods.ppo import PpoSettings
from harness.training.methods.reward import RewardSettings
from harness.training.methods.rloo import RlooSettings
from harness.training.methods.sft import SftSettings
from posttrain.errors import BadInput, validation_lines

# The names of harness.training.methods (a test keeps the two in step); each has its file there.
Method = Literal["sft", "dpo", "kto", "grpo", "rloo", "reward", "ppo", "external"]
CONFIG_FILE = "experiment.yaml"

# The evaluator's metric names (harness.evaluation.metrics.METRICS; a test keeps the two in step).
KNOWN_METRICS = ("exact_match", "contains", "regex", "numeric", "f1", "rouge_l", "choice", "unit_tests", "judge")
# A reward is a built-in name (numeric_answer, ...), "FILE.py:function" inside the experiment directory,
# "learned:DIR" (a trained reward model) or "reward_model" (the one this plan's `reward` stage trains).
_REWARD_NAME = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9_./-]+\.py:[A-Za-z_][A-Za-z0-9_]*|learned:.+)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CrossFieldError(ValueError):
    """Problems that involve several fields, each with the field path it belongs to (for ``file:line``)."""

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {message}" for loc, message in problems))


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
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute activations in the backward instead of keeping them: ~1/layers of the activation "
        "memory for ~33% more compute (`posttrain run --dry-run --compute gpu_24gb` says when it is needed).",
    )
    save_steps: int = Field(50, ge=1, description="Checkpoint every this many steps (resume starts there).")
    logging_steps: int = Field(1, ge=1, description="Log loss/reward every this many steps.")
    validation_fraction: float = Field(
        0.1,
        ge=0.0,
        lt=0.5,
        description="Share of the training rows held out, by seed, as a validation split (never the eval set): "
        "its loss is logged beside the training loss every save_steps and the adapter kept is the best "
        "checkpoint (lowest validation loss; a reward model: highest validation accuracy). SFT, DPO, KTO and "
        "reward split their own rows; GRPO/RLOO have no loss on fixed targets and no split. Skipped below 20 "
        "rows; 0 turns it off; --eval FILE replaces it.",
    )
    early_stopping_patience: int | None = Field(
        None,
        ge=1,
        description="Stop when the validation metric has not improved for this many evaluations in a row (one "
        "every save_steps); null trains to the end. Needs the validation split.",
    )
    chat_template: str | None = Field(
        None,
        description="For a base model without a chat template: 'chatml' (posttrain's ChatML with the "
        "tokenizer's own EOS ending each turn, the default then), a .jinja file, or a model whose template "
        "to copy (a directory or hub id). Saved with the adapter. Null keeps the model's own template.",
    )
    readiness_min_pass: float = Field(
        0.10,
        ge=0.0,
        le=1.0,
        description="RL readiness: before GRPO/RLOO starts from the base model, the least share of up to 32 RL "
        "prompts it must solve at least once in 8 samples (pass@8); below it the run stops. 0 turns it off.",
    )
    seeds: list[int] = Field(
        default_factory=list,
        description="Extra seeds: the whole plan is trained again with each (into train/seed-N/) and the tuned "
        "stage reports the spread across seeds; the main run uses `seed`.",
    )

    @property
    def tokens_per_step(self) -> int:
        """Upper bound of tokens per optimizer step: batch × accumulation × max_length."""
        return self.batch_size * self.gradient_accumulation * self.max_length

    @model_validator(mode="after")
    def _distinct_seeds(self) -> TrainingSettings:
        for index, seed in enumerate(self.seeds):
            if seed == self.seed or seed in self.seeds[:index]:
                why = "is the main run's training.seed" if seed == self.seed else "is listed twice"
                raise CrossFieldError([(("seeds", index), f"seed {seed} {why}")])
        return self

    def with_overrides(self, overrides: dict[str, Any]) -> TrainingSettings:
        """These settings with one method's own values applied, validated like the base settings.

        >>> TrainingSettings(learning_rate=2e-4).with_overrides({"learning_rate": 5e-5}).learning_rate
        5e-05
        """
        if not overrides:
            return self
        return TrainingSettings.model_validate({**self.model_dump(), **overrides})


class TrainSource(_Strict):
    path: str = Field(description="A data file (JSONL, JSON, CSV, Parquet) or a `datasets` name.")
    weight: float = Field(1.0, gt=0, description="Relative share of this source in the training mix.")
    columns: dict[str, str] | None = Field(
        None, description="Column mapping TARGET: SOURCE, e.g. {prompt: question, completion: answer}."
    )
    split: str | None = Field(None, description="The split of a DatasetDict folder or datasets name (default train).")


class ReplaySettings(_Strict):
    path: str = Field(
        "builtin:general",
        description="General instruction data mixed in against forgetting; 'builtin:general' "
        "is the small set shipped with posttrain.",
    )
    fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Share of training examples drawn from replay data.")


# Data entries besides data.train that may be written as {path, columns, split}.
MAPPED_FILES = ("preference", "feedback", "prompts")


class DataPaths(_Strict):
    train: list[TrainSource] = Field(
        default_factory=list, description="SFT sources with mixing weights (also the few-shot pool)."
    )
    preference: str | None = Field(None, description="DPO / reward-model pairs: prompt, chosen, rejected.")
    feedback: str | None = Field(
        None, description="KTO rows: prompt, completion, label (true = good, false = bad), unpaired."
    )
    prompts: str | None = Field(None, description="GRPO prompts with the reference columns rewards read.")
    knowledge: str | None = Field(None, description="Folder or file of documents for the RAG baseline.")
    replay: ReplaySettings | None = Field(None, description="Replay of general data; null turns it off.")
    read_as: dict[str, TrainSource] = Field(
        default_factory=dict,
        description="Filled from `preference`/`feedback`/`prompts` written as {path, columns, split}: "
        "how each of those files is read.",
    )

    @model_validator(mode="before")
    @classmethod
    def _mapped_files(cls, value: Any) -> Any:
        # `preference: {path: p.csv, columns: {prompt: q, ...}}` keeps `data.preference` a path for every
        # reader, and records the mapping under read_as, which source() hands to the readers that map.
        if not isinstance(value, dict):
            return value
        out = dict(value)
        for name in MAPPED_FILES:
            entry = out.get(name)
            if isinstance(entry, dict):
                out[name] = entry.get("path")
                out["read_as"] = {**out.get("read_as", {}), name: entry}
        return out

    def source(self, name: str) -> TrainSource | None:
        """``preference``/``feedback``/``prompts`` as a path with its column mapping and split (None: unset)."""
        path = getattr(self, name)
        if path is None:
            return None
        mapped = self.read_as.get(name)
        return TrainSource(path=path, columns=mapped.columns, split=mapped.split) if mapped else TrainSource(path=path)

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

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RagSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise CrossFieldError([(("chunk_overlap",), "must be smaller than chunk_size")])
        return self


class HostedEndpoint(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$", description="Short name; variants api-NAME, api-NAME-rag.")
    url: str = Field(pattern=r"^https?://", description="OpenAI-compatible base URL, e.g. https://host/v1.")
    model: str = Field(description="The model name the endpoint serves.")
    price_input_per_m: float = Field(0.0, ge=0, description="USD per million input (prompt) tokens.")
    price_output_per_m: float = Field(0.0, ge=0, description="USD per million output tokens.")
    rag: bool = Field(True, description="Also ask it with the retrieved context (when data.knowledge is set).")


class Baselines(_Strict):
    system_prompt: str | None = Field(None, description="System prompt of every variant (prompt baseline too).")
    few_shot: int = Field(3, ge=0, le=32, description="k for the k-shot baseline, drawn from training data.")
    rag: RagSettings = Field(default_factory=RagSettings, description="Retrieval baseline settings.")
    endpoints: list[HostedEndpoint] = Field(
        default_factory=list, description="Bigger hosted models asked the same eval rows (prompt and RAG variants)."
    )


class JudgeSettings(_Strict):
    url: str | None = Field(None, description="An OpenAI-compatible endpoint (http://host:port/v1) for the judge.")
    model: str | None = Field(
        None, description="The judge model: its name at `url`, or a local model spec; never the model being tuned."
    )
    rubric: str | None = Field(None, description="What a good answer is; the judge grades 0-10 against it.")
    labels: str | None = Field(
        None, description="Answers people already graded ({id, prompt, output, human_score}): judge-human agreement."
    )


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
    judge: JudgeSettings | None = Field(None, description="The judge behind the `judge` metric.")
    columns: dict[str, str] | None = Field(
        None, description="Column mapping TARGET: SOURCE, e.g. {prompt: question, reference: answer}."
    )
    split: str | None = Field(None, description="The split of a DatasetDict folder (default train).")

    @model_validator(mode="after")
    def _judge_named(self) -> EvalSet:
        if "judge" in self.metrics and not (self.judge and (self.judge.url or self.judge.model)):
            raise CrossFieldError([(("judge",), "the judge metric needs judge.url or judge.model (a judge model)")])
        return self

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: list[str]) -> list[str]:
        for metric in metrics:
            if metric not in KNOWN_METRICS:
                raise ValueError(f"unknown metric {metric!r}; known: {', '.join(KNOWN_METRICS)}")
        return metrics


class RewardSpec(_Strict):
    name: str = Field(
        description="A built-in reward (e.g. numeric_answer), 'rewards.py:function', 'learned:DIR' (a trained "
        "reward model) or 'reward_model' (the one this plan's `reward` stage trains; see `resolved_rewards`)."
    )
    weight: float = Field(1.0, description="Weight of this reward in the sum GRPO maximises.")

    @field_validator("name")
    @classmethod
    def _reward_name(cls, name: str) -> str:
        if not _REWARD_NAME.match(name):
            raise ValueError("write a built-in name like numeric_answer, FILE.py:function or learned:DIR")
        return name


class ForgettingSettings(_Strict):
    tasks: list[str] = Field(
        default_factory=lambda: ["posttrain_general"],
        description="lm-eval tasks; 'posttrain_general' is the offline probe shipped with posttrain.",
    )
    limit: int | None = Field(None, ge=1, description="Items per task (quick runs); null for all.")


class ReportSettings(_Strict):
    margin_points: float = Field(
        5.0,
        gt=0,
        le=100,
        description="Non-inferiority margin, in points: a cheaper variant ships when the lower 95% bound of "
        "(cheaper − best) is above −margin on every eval set.",
    )


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
        default_factory=lambda: list[Method](["sft"]),
        description="Training plan in order, e.g. [sft], [sft, dpo], [grpo]; [] runs the baselines only.",
    )
    advised: Advised | None = Field(None, description="The advice that produced this experiment, if any.")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="Adapter settings.")
    training: TrainingSettings = Field(default_factory=TrainingSettings, description="Optimiser and schedule.")
    data: DataPaths = Field(default_factory=DataPaths, description="Training and knowledge data.")
    baselines: Baselines = Field(default_factory=Baselines, description="What every fine-tune must beat.")
    evals: list[EvalSet] = Field(min_length=1, description="Eval sets, each with its metrics.")
    rewards: list[RewardSpec] = Field(default_factory=list, description="GRPO/RLOO rewards, summed with weights.")
    # One section per method (harness/training/methods/<name>.py): its own settings, and any training: value
    # it needs for itself (e.g. dpo: {beta: 0.1, learning_rate: 5.0e-5}).
    sft: SftSettings = Field(default_factory=SftSettings, description="SFT settings (methods: [sft, ..]).")
    dpo: DpoSettings = Field(default_factory=DpoSettings, description="DPO settings (methods: [.., dpo]).")
    kto: KtoSettings = Field(default_factory=KtoSettings, description="KTO settings (methods: [.., kto]).")
    grpo: GrpoSettings = Field(default_factory=GrpoSettings, description="GRPO settings (methods: [.., grpo]).")
    rloo: RlooSettings = Field(default_factory=RlooSettings, description="RLOO settings (methods: [.., rloo]).")
    reward: RewardSettings = Field(
        default_factory=RewardSettings, description="Reward-model settings (methods: [reward, grpo|rloo|ppo])."
    )
    ppo: PpoSettings = Field(
        default_factory=PpoSettings, description="PPO hand-off to OpenRLHF (not run by posttrain; see ppo/README.md)."
    )
    external: ExternalSettings = Field(
        default_factory=ExternalSettings, description="A model trained elsewhere (methods: [external])."
    )
    forgetting: ForgettingSettings = Field(default_factory=ForgettingSettings, description="General-skill check.")
    compute: ComputeSettings = Field(default_factory=ComputeSettings, description="Device, precision, launcher.")
    report: ReportSettings = Field(default_factory=ReportSettings, description="How the report decides what ships.")

    @model_validator(mode="after")
    def _data_for_methods(self) -> ExperimentConfig:
        problems = _cross_field_problems(self) + _override_problems(self)
        if problems:
            raise CrossFieldError(problems)
        return self

    def section(self, method: str) -> BaseModel:
        """The method's own section (``dpo:``, ``kto:``, ...) as its typed settings."""
        return getattr(self, method)  # type: ignore[no-any-return]

    def training_for(self, method: str) -> TrainingSettings:
        """``training:`` with the method section's own values applied (e.g. ``dpo.learning_rate``).

        >>> c = ExperimentConfig(name="x", evals=[{"path": "e"}], methods=[], dpo={"learning_rate": 5e-5})
        >>> c.training_for("dpo").learning_rate, c.training_for("sft").learning_rate
        (5e-05, 0.0002)
        """
        own = getattr(self, method, None)
        return self.training.with_overrides(own.training_overrides() if isinstance(own, MethodSection) else {})


def _override_problems(config: ExperimentConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Each section's training values, checked by TrainingSettings' own limits, at the section's field."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name in registry():
        own = getattr(config, name, None)
        if not isinstance(own, MethodSection):
            continue
        try:
            config.training_for(name)
        except ValidationError as error:
            problems += [((name, *map(str, e["loc"])), e["msg"]) for e in error.errors()]
    return problems


def _cross_field_problems(config: ExperimentConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Rules that tie fields together, each pointing at the field to fix."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    methods = config.methods
    for index, method in enumerate(methods):
        if method in methods[:index]:
            problems.append((("methods", index), f"{method} is listed twice"))
    specs = registry()
    for index, method in enumerate(methods):
        for first in specs[method].after:
            if first in methods[index + 1 :]:
                problems.append((("methods",), f"{first} must come before {method}"))
    problems += _data_problems(config, [specs[m] for m in dict.fromkeys(methods)])
    policies = [m for m in methods if specs[m].policy]
    if config.training.seeds and policies and not specs[policies[-1]].runs_here:
        problems.append((("training", "seeds"), f"seeds repeat training here; {policies[-1]} is trained elsewhere"))
    if "external" in methods and methods != ["external"]:
        problems.append((("methods",), "external evaluates a model trained elsewhere; plan it alone: [external]"))
    if "external" in methods and not config.external.path:
        problems.append((("external", "path"), "methods has external but external.path is not set"))
    if "ppo" in methods and "reward" not in methods and not config.ppo.reward_model:
        problems.append((("ppo", "reward_model"), "methods has ppo: plan `reward` before it or set ppo.reward_model"))
    online = "/".join(m for m in methods if specs[m].needs_rewards) or "grpo"
    for index, reward in enumerate(config.rewards):
        if reward.name == "reward_model" and "reward" not in methods:
            problems.append((("rewards", index, "name"), f"reward_model needs the `reward` method before {online}"))
    for index, spec in enumerate(config.evals):
        if spec.judge and spec.judge.model == config.model and not spec.judge.url:
            problems.append((("evals", index, "judge", "model"), "the judge must not be the model being tuned"))
    names = [e.name for e in config.evals]
    for index, name in enumerate(names):
        if name in names[:index]:
            problems.append((("evals", index, "name"), f"eval set name {name!r} is used twice"))
    if config.compute.accelerate_config and config.compute.launcher != "accelerate":
        problems.append((("compute", "launcher"), "accelerate_config is set; set launcher: accelerate to use it"))
    return problems


def _data_problems(config: ExperimentConfig, specs: list[MethodSpec]) -> list[tuple[tuple[str | int, ...], str]]:
    """Each planned method's data field (and rewards, for online RL) must be set."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    planned_fields = dict.fromkeys(s.data_field for s in specs if s.data_field is not None)
    for field_path in planned_fields:
        names = [s.name for s in registry().values() if s.data_field == field_path]  # e.g. dpo/reward
        section, name = field_path.split(".")
        value = getattr(config.data, name)
        if not value:
            state = "is empty" if name == "train" else "is not set"
            problems.append(((section, name), f"methods has {'/'.join(names)} but {field_path} {state}"))
    online = [s.name for s in specs if s.needs_rewards]
    if online and not config.rewards:
        problems.append((("rewards",), f"methods has {'/'.join(online)} but rewards is empty"))
    return problems


def parse_config(text: str, source: str = CONFIG_FILE, notify: Notify | None = None) -> ExperimentConfig:
    """Validate YAML text as an experiment config; errors read ``source:line: field.path: message``.

    Fields that moved into the method sections (``training.dpo_beta`` → ``dpo.beta``, ...) are read at
    their new place with one ``source:line: ... moved to ...`` notice each (``notify``; default stderr).

    >>> parse_config("name: x\\nevals: [{path: e.jsonl}]\\nmethods: []\\n").methods
    []
    >>> parse_config("name: x\\nmethods: [dpo]\\ndata:\\n  train: t.jsonl\\nevals: [{path: e.jsonl}]\\n")
    Traceback (most recent call last):
    posttrain.errors.BadInput: experiment.yaml:3: data.preference: methods has dpo/reward but data.preference is not set
    >>> notices = []
    >>> parse_config("name: x\\nmethods: [dpo]\\ndata: {preference: p.jsonl}\\ntraining:\\n  dpo_beta: 0.3\\n"
    ...              "evals: [{path: e}]\\n", notify=notices.append).dpo.beta
    0.3
    >>> print(notices[0])
    experiment.yaml:5: training.dpo_beta moved to dpo.beta; write `dpo: {beta: 0.3}` (read from its new place this time)
    """
    import yaml

    from harness.config_moved import migrate, print_notice
    from posttrain.safe_files import load_yaml

    raw = load_yaml(text, source)  # bad YAML, alias bombs and deep nesting end here as one BadInput
    node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # for line numbers
    if not isinstance(raw, dict):
        raise BadInput(f"{source}:1: the config must be a mapping of fields (name, model, methods, ...)")
    moved = migrate(raw)
    if moved.conflicts:
        raise BadInput(
            "\n".join(f"{source}:{_line_of(node, loc)}: {'.'.join(map(str, loc))}: {m}" for loc, m in moved.conflicts)
        )
    try:
        config = ExperimentConfig.model_validate(moved.raw)
    except ValidationError as error:
        lines = []
        for err, line in zip(error.errors(), validation_lines(error), strict=True):
            cross = (err.get("ctx") or {}).get("error")
            if isinstance(cross, CrossFieldError):
                for loc, message in cross.problems:
                    full = moved.old_location((*err["loc"], *loc))
                    lines.append(f"{source}:{_line_of(node, full)}: {'.'.join(map(str, full))}: {message}")
            else:
                full = moved.old_location(tuple(err["loc"]))
                message = line[len(".".join(map(str, err["loc"])) or "(top level)") + 2 :]  # "loc: message"
                lines.append(f"{source}:{_line_of(node, full)}: {'.'.join(map(str, full)) or '(top level)'}: {message}")
        raise BadInput("\n".join(lines)) from None
    for loc, message in moved.notices:
        (notify or print_notice)(f"{source}:{_line_of(node, loc)}: {message}")
    return config


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate ``experiment.yaml`` (or a directory holding one)."""
    file = Path(path)
    if file.is_dir():
        file = file / CONFIG_FILE
    if not file.exists():
        raise BadInput(f"{file}: no experiment config here; create one with `posttrain new DIR`")
    from posttrain.safe_files import YAML_LIMIT_ENV, read_text, yaml_limit_bytes

    # A regular file within the size limit: a FIFO or device is refused by name before it is opened.
    text = read_text(file, "experiment config", yaml_limit_bytes(), YAML_LIMIT_ENV)
    return parse_config(text, str(file))


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


def missing_files(config: ExperimentConfig, config_file: Path) -> list[str]:
    """``field.path: message`` for each local path in the config that does not exist.

    Values without a path separator or file suffix may be `datasets` names and are not checked.
    """
    entries: list[tuple[str, str | None]] = [(f"data.train.{i}.path", s.path) for i, s in enumerate(config.data.train)]
    entries += [("data.preference", config.data.preference), ("data.prompts", config.data.prompts)]
    entries += [("data.feedback", config.data.feedback), ("external.path", config.external.path)]
    entries += [
        ("data.knowledge", config.data.knowledge),
        ("compute.accelerate_config", config.compute.accelerate_config),
    ]
    entries += [(f"evals.{i}.path", e.path) for i, e in enumerate(config.evals)]
    entries += [(f"rewards.{i}.name", r.name.split(":")[0]) for i, r in enumerate(config.rewards) if ":" in r.name]
    problems = []
    for field, value in entries:
        path = resolve_path(config_file, value)
        looks_local = value is not None and ("/" in value or Path(value).suffix != "")
        if path is not None and looks_local and not path.exists():
            problems.append(f"{field}: {value} does not exist (relative to {config_file.parent})")
    return problems


def resolved_rewards(rewards: list[RewardSpec], reward_model_dir: str | Path) -> list[RewardSpec]:
    """The rewards with ``reward_model`` replaced by ``learned:DIR``, DIR being this run's ``reward`` output.

    >>> specs = [RewardSpec(name="reward_model"), RewardSpec(name="f.py:g")]
    >>> [r.name for r in resolved_rewards(specs, "run/train/reward")]
    ['learned:run/train/reward', 'f.py:g']
    """
    return [
        RewardSpec(name=f"learned:{reward_model_dir}", weight=r.weight) if r.name == "reward_model" else r
        for r in rewards
    ]
