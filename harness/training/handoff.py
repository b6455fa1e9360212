"""Where a run's policy weights come from, and the PPO hand-off folder (not run by posttrain).

``policy_weights`` answers "what does the ``tuned`` stage evaluate": the last policy method's adapter
under ``runs/<id>/train/``, the folder ``external.path`` names, or ``ppo/output/`` once OpenRLHF's output
is there. ``write_ppo_handoff`` writes ``ppo/`` (see :mod:`harness.training.methods.ppo`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from harness.training.methods import registry
from harness.training.methods.external import ADAPTER_FILE, describe
from harness.training.methods.ppo import (
    HANDOFF_DIR,
    HUB_IDS,
    NOT_RUN,
    OPENRLHF_SOURCE,
    OPENRLHF_VERSION,
    OUTPUT_DIR,
    PpoInputs,
    render_readme,
    render_script,
)

if TYPE_CHECKING:
    from harness.config import ExperimentConfig
    from harness.runner.context import RunContext


def policy_weights(config: ExperimentConfig, exp_dir: Path, run_dir: Path) -> Path | None:
    """The weights the ``tuned`` stage evaluates: an adapter or model directory, or None when nothing is planned."""
    specs = registry()
    policy = [m for m in config.methods if specs[m].policy]
    if not policy:
        return None
    last = policy[-1]
    if last == "external" and config.external.path:
        path = Path(config.external.path).expanduser()
        return path if path.is_absolute() else exp_dir / path
    if last == "ppo":
        return exp_dir / OUTPUT_DIR
    return run_dir / "train" / last


def base_for(weights: Path, model: str, exp_dir: Path) -> str:
    """The base model an adapter trained elsewhere goes on: its own ``base_model_name_or_path`` when that is a
    local model folder (OpenRLHF trained on ``ppo/policy``), else the experiment's ``model``."""
    config_file = weights / ADAPTER_FILE
    if not config_file.is_file():
        return model
    base = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path") or ""
    for candidate in (Path(base), exp_dir / base):
        if base and (candidate / "config.json").is_file():
            return str(candidate.resolve())
    return model


def ppo_inputs(config: ExperimentConfig, policy: str, reward_model: str) -> PpoInputs:
    """What the OpenRLHF command is rendered from (pure: paths are given, nothing is read)."""
    lora, training = config.lora, config.training
    targets = ("all-linear",) if isinstance(lora.target_modules, str) else tuple(lora.target_modules)
    return PpoInputs(
        policy=policy,
        reward_model=reward_model,
        prompts=str(config.data.prompts),
        settings=config.ppo,
        lora_r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        max_length=training.max_length,
        max_new_tokens=config.ppo.max_completion_length,
        seed=training.seed,
    )


def write_ppo_handoff(config: ExperimentConfig, exp_dir: Path, run_dir: Path, chained: Path | None) -> Path:
    """Write ``ppo/`` into the experiment: the command, the README, the inputs; return the folder.

    The policy is the adapter trained just before (``chained``, merged into ``ppo/policy/``) or the base
    model; the reward model is ``ppo.reward_model`` or this run's ``reward`` stage (merged into
    ``ppo/reward_model/``). OpenRLHF loads full models, not adapters, hence the merges.
    """
    folder = exp_dir / HANDOFF_DIR
    folder.mkdir(parents=True, exist_ok=True)
    if chained is not None:
        _merge_policy(config.model, chained, folder / "policy")
        policy, policy_note = f"{HANDOFF_DIR}/policy", f"the base model with {chained.name} merged in"
    else:
        policy, policy_note = HUB_IDS.get(config.model, config.model), "the experiment's base model"
    if config.ppo.reward_model:
        reward, reward_note = config.ppo.reward_model, "ppo.reward_model"
    else:
        _merge_reward(run_dir / "train" / "reward", config.model, folder / "reward_model")
        reward, reward_note = f"{HANDOFF_DIR}/reward_model", "the reward model the `reward` stage trained, merged"
    inputs = ppo_inputs(config, policy, reward)
    script = folder / "train_ppo.sh"
    script.write_text(render_script(inputs), encoding="utf-8")
    script.chmod(0o755)
    (folder / "README.md").write_text(render_readme(inputs, reward_note, policy_note), encoding="utf-8")
    record = {
        "note": f"PPO is {NOT_RUN}; run train_ppo.sh with OpenRLHF, then `posttrain run --from tuned`",
        "openrlhf_version": OPENRLHF_VERSION,
        "flags_read_from": OPENRLHF_SOURCE,
        "policy": policy,
        "reward_model": reward,
        "prompts": inputs.prompts,
        "output": OUTPUT_DIR,
    }
    (folder / "handoff.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return folder


def outside_step(ctx: RunContext, method: str, chained: Path | None) -> None:
    """The train stage's step for a method posttrain does not train (not run by posttrain).

    ``external``: check the weights and record them in ``train/external/external.json``. ``ppo``: until
    OpenRLHF's output is in ``ppo/output/``, write the hand-off, mark the train stage done (its part is
    done, so ``run --from tuned`` goes on from here) and stop with :class:`HandOff`; once it is there,
    record it like ``external``.
    """
    from harness.training.methods.ppo import HandOff, stop_message

    weights = ctx.final_adapter
    assert weights is not None
    if method == "ppo" and not weights.is_dir():
        folder = write_ppo_handoff(ctx.config, ctx.exp_dir, ctx.run_dir, chained)
        ctx.say(f"  ppo: {NOT_RUN}; wrote {folder}/ (train_ppo.sh, README.md, handoff.json)")
        ctx.manifest.mark(ctx.stage, ctx.digest, "done")
        raise HandOff(stop_message(ctx.exp_dir.name))
    where = "external.path" if method == "external" else OUTPUT_DIR
    record = describe(weights, where) | {"method": method}
    out = ctx.stage_dir("train", method)
    (out / "external.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    ctx.stamp(out)
    ctx.say(f"  {method}: {record['kind']} {weights} (trained elsewhere, {NOT_RUN}); evaluated as external")


def _merge_policy(model: str, adapter: Path, target: Path) -> None:
    from harness.models import load_model_and_tokenizer

    merged, tokenizer = load_model_and_tokenizer(model, adapter=adapter, dtype="float32", device="cpu")
    merged.merge_and_unload().save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def _merge_reward(adapter: Path, model: str, target: Path) -> None:
    from harness.training.reward_model import load_reward_model

    reward_model, tokenizer = load_reward_model(adapter, model)
    reward_model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
