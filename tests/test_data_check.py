"""``posttrain data check``: each planted problem is found where it was planted; exit codes; JSON."""

from __future__ import annotations

import json
import random
from pathlib import Path

from harness.data.check import check_dataset
from harness.data.quality import find_duplicates, find_eval_overlap

_VOCAB = """model data train token answer question river mountain history science music garden window paper
energy market number letter story planet ocean forest engine signal memory pattern theory method
value system network language picture season animal island bridge castle valley desert winter"""
WORDS = _VOCAB.split()


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _conv(prompt: str, answer: str, **extra) -> dict:
    return {
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
        **extra,
    }


def _write(path: Path, rows: list[dict], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)
    return path


def test_near_duplicates_found_without_false_positives():
    rng = random.Random(0)
    rows = [{"prompt": _sentence(rng, 20), "completion": _sentence(rng, 60)} for _ in range(300)]
    planted = []
    for k in range(30):  # copy a row and change two words: ~0.9 Jaccard of word 3-grams
        src = dict(rows[k])
        words = src["completion"].split()
        for pos in rng.sample(range(len(words)), 2):
            words[pos] = "zebra"
        rows.append({"prompt": src["prompt"], "completion": " ".join(words)})
        planted.append({k, len(rows) - 1})
    rows.append(dict(rows[100]))  # one exact copy
    found = find_duplicates(rows)
    assert found.exact == [[100, len(rows) - 1]]
    assert sorted(map(sorted, found.near)) == sorted(map(sorted, planted))


def test_eval_overlap_exact_and_near():
    rng = random.Random(1)
    evals = [{"prompt": _sentence(rng, 25), "reference": "x"} for _ in range(20)]
    train = [{"prompt": _sentence(rng, 25), "completion": _sentence(rng, 30)} for _ in range(200)]
    train[5]["prompt"] = evals[3]["prompt"].upper() + "?"  # exact up to case and punctuation
    near = evals[7]["prompt"].split()
    near[10] = "zebra"
    train[9]["prompt"] = " ".join(near)
    overlap = find_eval_overlap(train, evals)
    assert [(i, j) for i, j, _ in overlap.exact] == [(5, 3)]
    assert [(i, j) for i, j, _ in overlap.near] == [(9, 7)]


def test_report_finds_each_planted_problem(tmp_path):
    rng = random.Random(2)
    rows = [_conv(_sentence(rng, 12), _sentence(rng, 30), source=rng.choice(["web", "books"])) for _ in range(40)]
    rows[3] = dict(rows[2])  # exact duplicate at lines 3 and 4
    rows[10] = {"messages": [rows[10]["messages"][0], rows[10]["messages"][0]]}  # user follows user, line 11
    rows[11] = _conv("Tell me about the history of the river that runs here", "x")  # short response, line 12
    rows[12] = _conv("Repeat after me: the garden grows at night", "Repeat after me: the garden grows at night")
    rows[13] = _conv("Ã©tude of the piano " + _sentence(rng, 5), _sentence(rng, 20))  # mojibake, line 14
    rows[14] = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]}
    train = _write(tmp_path / "train.jsonl", rows, tail='{"messages": [')  # truncated line 41
    evals = _write(tmp_path / "eval.jsonl", [{"prompt": rows[20]["messages"][0]["content"], "reference": "r"}])
    report = check_dataset(train, eval_path=evals)
    by_check: dict[str, list[str]] = {}
    for f in report.errors + report.warnings:
        by_check.setdefault(f.check, []).extend(f.locations)
    t = str(train)
    assert by_check["parse"] == [f"{t}:41"]
    assert sorted(by_check["structure"]) == [f"{t}:11", f"{t}:15"]
    assert by_check["duplicate"] == [f"{t}:3", f"{t}:4"]
    assert f"{t}:12" in by_check["response_length"]
    assert by_check["prompt_echo"] == [f"{t}:13"]
    assert by_check["encoding"] == [f"{t}:14"]
    assert by_check["eval_overlap"] == [f"{t}:21"]
    assert report.stats["columns"]["source"].keys() <= {"web", "books", "(missing)"}
    assert 0 < report.stats["diversity"]["distinct_1"] < report.stats["diversity"]["distinct_2"] <= 1
    assert report.format == "messages" and report.kind == "sft"


def test_exit_codes_and_json(tmp_path, cli, capsys):
    rng = random.Random(3)
    clean = _write(tmp_path / "clean.jsonl", [_conv(_sentence(rng, 10), _sentence(rng, 20)) for _ in range(10)])
    code, out, _ = cli("data", "check", str(clean), capsys=capsys)
    assert code == 0 and "clean" in out
    rows = [_conv(_sentence(rng, 10), _sentence(rng, 20)) for _ in range(10)]
    warn = _write(tmp_path / "warn.jsonl", [*rows, rows[0]])
    assert cli("data", "check", str(warn), capsys=capsys)[0] == 0
    code, out, _ = cli("data", "check", str(warn), "--strict", "--json", capsys=capsys)
    assert code == 1
    report = json.loads(out)
    assert report["warnings"][0]["check"] == "duplicate" and report["warnings"][0]["rows"] == [0, 10]
    bad = _write(tmp_path / "bad.jsonl", [{"prompt": "q", "chosen": 3, "rejected": "same"}])
    code, out, _ = cli("data", "check", str(bad), "--kind", "dpo", capsys=capsys)
    assert code == 2 and "chosen: expected text or a list of messages" in out and "bad.jsonl:1" in out


def test_token_lengths_and_truncation_share(tmp_path, tiny_model_dir):
    rows = [_conv("short question", "short answer"), _conv("long " * 300, "answer " * 300)]
    path = _write(tmp_path / "t.jsonl", rows)
    report = check_dataset(path, model=str(tiny_model_dir), max_length=200)
    tokens = report.stats["tokens"]
    assert tokens["truncated"] == 1 and tokens["truncated_share"] == 0.5
    # the chat template adds its role markers: the short row is longer than its 4 words
    assert 4 < tokens["min"] < 40 and tokens["max"] > 600
    assert any(f.check == "truncation" for f in report.warnings)


def _turns(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def test_preference_pairs_share_their_prompt_and_ties_and_length_only_pairs_are_counted(tmp_path):
    rng = random.Random(4)
    rows = [
        {"prompt": _sentence(rng, 8), "chosen": _sentence(rng, 12), "rejected": _sentence(rng, 12)} for _ in range(8)
    ]
    rows[1]["rejected"] = rows[1]["chosen"]  # a tie, line 2
    rows[2]["rejected"] = "  " + rows[2]["chosen"].replace(" ", "  ")  # a tie up to whitespace, line 3
    rows[4]["rejected"] = rows[4]["chosen"] + " and then some more words"  # length only, line 5
    rows[6] = {"chosen": _turns("What is 2+2?", "4"), "rejected": _turns("Capital of France?", "Paris")}  # line 7
    path = _write(tmp_path / "pairs.jsonl", rows)
    report = check_dataset(path, kind="dpo")
    errors = [(f.locations, f.message) for f in report.errors]
    assert len(errors) == 1 and errors[0][0] == [f"{path}:7"] and "answer different prompts" in errors[0][1]
    by_check = {f.check: f for f in report.warnings}
    assert by_check["preference_tie"].locations == [f"{path}:2", f"{path}:3"]
    assert by_check["preference_tie"].message.startswith("2 of 8 pairs are ties")
    assert by_check["preference_length_only"].locations == [f"{path}:5"]
    assert by_check["preference_length_only"].message.startswith("1 of 8 pairs differ only in length")


def test_role_fitting_warnings_short_references_and_untrained_conversations(tmp_path):
    evals = _write(
        tmp_path / "eval.jsonl", [{"prompt": f"What is {i} + {i}?", "reference": str(2 * i)} for i in range(9)]
    )
    assert check_dataset(evals, kind="eval").warnings == []  # short references are what an eval set holds
    silent = {"messages": [*_turns("q one two", "a one two")[:1], {"role": "assistant", "content": "a b", "weight": 0}]}
    rng = random.Random(5)
    train = _write(tmp_path / "t.jsonl", [_conv(_sentence(rng, 8), _sentence(rng, 10)) for _ in range(4)] + [silent])
    report = check_dataset(train)
    untrained = [f for f in report.warnings if f.check == "untrained"]
    assert len(untrained) == 1 and untrained[0].locations == [f"{train}:5"]
