"""Our evaluator against lm-evaluation-harness on the real default model: same prompts, same scores.

The eval set is written once as JSONL; lm-eval reads it through a ``generate_until`` task (YAML +
loader in tmp_path) and applies the chat template itself (``apply_chat_template=True``), so the
two pipelines share only the model, the data and the decoding settings.
"""

from __future__ import annotations

import json

import pytest

# References are chosen so that some greedy answers of SmolLM2-135M-Instruct match and some do not;
# the test asserts agreement, and that the score is neither 0 nor 1 (so agreement means something).
ROWS = [
    ("What is the capital of France? Reply with just the city name.", "The capital of France is Paris."),
    ("Translate 'bonjour' to English. Reply with one word.", "hello"),
    ("What is 3 + 5? Reply with just the number.", "8"),
    ("Is the sun a star? Answer yes or no.", "No, the sun is not a star"),
    ("What color is grass? Reply with one word.", "green"),
    ("What is the opposite of hot? One word.", "The opposite of hot is cold."),
]
MAX_NEW_TOKENS = 8
STOP = ["\n"]

LOADER = """
import json
from pathlib import Path

def load(file, **_):
    import datasets
    rows = [json.loads(line) for line in (Path(__file__).parent / file).read_text().splitlines() if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})
"""

TASK = """
task: posttrain_crosscheck
custom_dataset: !function utils.load
dataset_kwargs:
  file: eval.jsonl
test_split: test
output_type: generate_until
doc_to_text: "{{prompt}}"
doc_to_target: "{{reference}}"
generation_kwargs:
  until: %s
  max_gen_toks: %d
  do_sample: false
  temperature: 0.0
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: true
    # our exact_match also drops articles and collapses spaces (SQuAD normalisation)
    regexes_to_ignore: ["(?i)\\\\b(a|an|the)\\\\b", "\\\\s+"]
metadata:
  version: 1.0
"""


@pytest.mark.slow
def test_exact_match_equals_lm_eval_on_the_default_model(tmp_path, default_model_dir):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from harness.evaluation.runner import EvalRequest, evaluate, load_for_eval

    data = tmp_path / "eval.jsonl"
    data.write_text(
        "".join(json.dumps({"id": str(i), "prompt": p, "reference": r}) + "\n" for i, (p, r) in enumerate(ROWS))
    )
    ours = evaluate(
        EvalRequest(
            data=str(data),
            metrics=["exact_match"],
            max_new_tokens=MAX_NEW_TOKENS,
            stop=STOP,
            out=str(tmp_path / "ours"),
        )
    )
    our_outputs = [
        json.loads(line)["output"] for line in (tmp_path / "ours" / "results.jsonl").read_text().splitlines()
    ]

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "utils.py").write_text(LOADER)
    (tasks / "eval.jsonl").write_text(data.read_text())
    (tasks / "crosscheck.yaml").write_text(TASK % (json.dumps(STOP), MAX_NEW_TOKENS))
    model, tokenizer = load_for_eval("smollm2-135m", None)  # the same weights object, already loaded
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=len(ROWS), device="cpu")
    output = simple_evaluate(
        model=lm,
        tasks=["posttrain_crosscheck"],
        task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
        apply_chat_template=True,
        log_samples=True,
        bootstrap_iters=0,
    )
    assert output is not None
    theirs = output["results"]["posttrain_crosscheck"]["exact_match,none"]
    samples = sorted(output["samples"]["posttrain_crosscheck"], key=lambda s: s["doc_id"])
    their_outputs = [s["filtered_resps"][0] for s in samples]

    assert [o.strip() for o in our_outputs] == [o.strip() for o in their_outputs]
    assert ours.metrics["exact_match"].mean == pytest.approx(theirs)
    assert 0 < theirs < 1, f"a trivial score proves little: {their_outputs}"


@pytest.mark.slow
def test_choice_metric_picks_the_likeliest_answer_with_the_real_model(tmp_path, default_model_dir):
    from harness.evaluation.runner import EvalRequest, evaluate

    data = tmp_path / "mc.jsonl"
    rows = [
        {"prompt": "What is the capital of France?", "choices": ["Paris", "Banana", "Saturn"], "reference": "Paris"},
        {"prompt": "How many legs does a dog have?", "choices": ["four", "ninety"], "reference": "A"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = evaluate(EvalRequest(data=str(data), metrics=["choice"], out=str(tmp_path / "out")))
    results = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert [r["choice"] for r in results] == ["Paris", "four"]
    assert summary.metrics["choice"].mean == 1.0
