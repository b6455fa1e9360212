"""Batched generation: left padding gives the same greedy answers as one-at-a-time; stops; sampling."""

from __future__ import annotations

import pytest

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "Write a long sentence about the weather in the mountains in spring."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from harness.models import load_model_and_tokenizer

    return load_model_and_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="module")
def varied(tiny_model_dir):
    """The tiny model's shape with larger random weights: its greedy answers differ token to token and
    row to row (the fixture model's collapse to one repeated token would make an equality test vacuous)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, initializer_range=0.3, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    return LlamaForCausalLM(config).eval(), tokenizer


def test_batched_greedy_equals_one_at_a_time(varied):
    from harness.evaluation.generate import generate_batch

    model, tokenizer = varied
    batched = generate_batch(model, tokenizer, CONVERSATIONS, max_new_tokens=6, batch_size=3)
    single = [generate_batch(model, tokenizer, [c], max_new_tokens=6, batch_size=1)[0] for c in CONVERSATIONS]
    assert batched == single
    assert all(len(o) == 1 and o[0] for o in batched)  # one non-empty answer each
    assert len({o[0] for o in batched}) == len(CONVERSATIONS)  # distinct answers: the comparison means something


def test_dropping_finished_rows_gives_what_model_generate_gives(varied):
    """Rows that hit EOS early leave the batch; the others' answers must not change (vs ``generate``)."""
    import torch
    from transformers import GenerationConfig

    from harness.evaluation.generate import render_prompts
    from harness.evaluation.greedy import greedy_tokens

    model, tokenizer = varied
    encoded = tokenizer(
        render_prompts(tokenizer, CONVERSATIONS), return_tensors="pt", padding=True, padding_side="left",
        add_special_tokens=False,
    )  # fmt: skip
    width = encoded["input_ids"].shape[1]
    config = GenerationConfig(max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    with torch.inference_mode():
        free = model.generate(**encoded, generation_config=config)[:, width:].tolist()
    # An "EOS" that row 0 emits at its 3rd token: row 0 ends early, the others run on past it.
    eos = free[0][2]
    assert any(eos not in row for row in free[1:]), "pick an EOS that some other row never emits"
    config.eos_token_id = eos
    with torch.inference_mode():
        theirs = model.generate(**encoded, generation_config=config)[:, width:].tolist()
    ours = greedy_tokens(model, encoded["input_ids"], encoded["attention_mask"], max_new_tokens=8, eos_ids={eos})
    expected = [row[: row.index(eos)] if eos in row else row for row in theirs]
    assert ours == expected
    assert len(ours[0]) < 3 and max(len(r) for r in ours) == 8  # one row finished early, one ran to the end


def test_a_prompt_prefix_shared_by_all_rows_is_prefilled_once_with_the_same_answers(varied):
    """Rows without a system prompt share the template's default system turn: computed once, its KV
    cache copied to each row, the answers must be those of ``generate`` over the whole prompts."""
    import torch
    from transformers import GenerationConfig

    from harness.evaluation.generate import generate_batch, render_prompts
    from harness.evaluation.greedy import shared_prefix_length

    model, tokenizer = varied
    conversations = [c for c in CONVERSATIONS if c[0]["role"] == "user"] + [[{"role": "user", "content": "Why?"}]]
    encoded = tokenizer(
        render_prompts(tokenizer, conversations), return_tensors="pt", padding=True, padding_side="left",
        add_special_tokens=False,
    )  # fmt: skip
    shared = shared_prefix_length(encoded["input_ids"], encoded["attention_mask"])
    assert shared >= 8 and shared < int(encoded["attention_mask"].sum(-1).min())
    config = GenerationConfig(max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    with torch.inference_mode():
        output = model.generate(**encoded, generation_config=config)
    theirs = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
    ours = [o[0] for o in generate_batch(model, tokenizer, conversations, max_new_tokens=6, batch_size=3)]
    assert ours == theirs and len(set(ours)) == 3


def test_the_sliced_lm_head_gives_the_same_logits_and_is_removed_after(varied):
    import torch

    from harness.evaluation.greedy import LM_HEAD_CHUNK, _sliced_lm_head

    model, _ = varied
    head = model.get_output_embeddings()
    assert head.out_features >= 4 * LM_HEAD_CHUNK  # the tiny model's 49,152-row head is sliced
    hidden = torch.randn(5, head.in_features)
    with torch.inference_mode():
        whole = head(hidden)
        with _sliced_lm_head(model):
            assert "forward" in vars(head)
            sliced = head(hidden)
    assert "forward" not in vars(head)
    assert torch.equal(whole, sliced)


def test_the_buffered_kv_cache_grows_past_its_capacity_and_follows_row_selection():
    import torch

    from harness.evaluation.greedy import _buffered_layer

    layer = _buffered_layer()(3)
    steps = [torch.randn(4, 2, n, 8) for n in (2, 1, 3, 1)]  # 7 tokens into a buffer planned for 3
    for step in steps:
        keys, values = layer.update(step, -step)
    expected = torch.cat(steps, dim=-2)
    assert layer.get_seq_length() == 7 and torch.equal(keys, expected) and torch.equal(values, -expected)
    layer.batch_select_indices(torch.tensor([0, 2]))
    assert torch.equal(layer.keys, expected[[0, 2]])
    keys, _ = layer.update(torch.ones(2, 2, 1, 8), torch.ones(2, 2, 1, 8))
    assert keys.shape == (2, 2, 8, 8) and torch.equal(keys[:, :, :7], expected[[0, 2]])


def test_stop_sequence_cuts_the_answer(tiny):
    from harness.evaluation.generate import generate_batch

    model, tokenizer = tiny
    full = generate_batch(model, tokenizer, CONVERSATIONS[:1], max_new_tokens=8)[0][0]
    stop = full[len(full) // 2 :][:2]  # a piece of the answer's second half
    cut = generate_batch(model, tokenizer, CONVERSATIONS[:1], max_new_tokens=8, stop=[stop])[0][0]
    assert cut == full[: full.find(stop)]


def test_sampling_returns_several_answers_per_prompt(tiny):
    from harness.evaluation.generate import generate_batch

    model, tokenizer = tiny
    out = generate_batch(
        model, tokenizer, CONVERSATIONS[:2], max_new_tokens=5, do_sample=True, temperature=1.5, num_return_sequences=3
    )
    assert [len(o) for o in out] == [3, 3]
    assert len(set(out[0])) > 1  # random weights at temperature 1.5: the three samples differ


def test_batch_size_fits_memory_and_respects_the_cap(tiny):
    from harness.evaluation.generate import pick_batch_size

    model, _ = tiny
    assert 1 <= pick_batch_size(model, prompt_tokens=100, max_new_tokens=100) <= 64


def test_on_a_cpu_the_cache_gets_at_most_its_budget_however_much_memory_is_free(monkeypatch) -> None:
    import types

    import torch

    from harness.evaluation import generate

    monkeypatch.setattr(generate, "_available_bytes", lambda device: 64 * 1024**3)

    model = torch.nn.Linear(2, 2)  # float32 on the CPU; the SmolLM2-135M cache shape below
    model.config = types.SimpleNamespace(  # type: ignore[assignment]
        num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, head_dim=64
    )
    per_row = 2 * (2 * 30 * 3 * 64 * 4) * (1000 + 40)  # a RAG prompt of 1,000 tokens, 40 new
    assert generate.pick_batch_size(model, 1000, 40) == generate._CPU_CACHE_BUDGET // per_row  # 21 rows
    assert generate.pick_batch_size(model, 100, 40) == 64  # short prompts: the CPU cap


def test_prompts_of_very_different_lengths_prefill_in_groups_with_the_same_answers(varied, monkeypatch):
    """Short and long prompts in one batch prefill in two groups, each padded to its own longest; the answers
    are those of one row at a time, with the template's shared prefix and without one."""
    import torch

    from harness.evaluation import greedy
    from harness.evaluation.generate import generate_batch
    from harness.evaluation.greedy import greedy_tokens, prefill_groups

    seen: list[int] = []  # groups of each batched prefill
    monkeypatch.setattr(greedy, "prefill_groups", lambda lengths: seen.append(len(g := prefill_groups(lengths))) or g)
    model, tokenizer = varied
    short = [[{"role": "user", "content": q}] for q in ("Hi", "Why?", "2+2?", "Name a colour.")]
    long = [
        [{"role": "user", "content": f"Tell me about topic {n}: " + "the weather in the mountains in spring " * 6}]
        for n in range(4)
    ]
    conversations = [c for pair in zip(short, long, strict=True) for c in pair]  # mixed, not sorted
    batched = generate_batch(model, tokenizer, conversations, max_new_tokens=6, batch_size=8)
    single = [generate_batch(model, tokenizer, [c], max_new_tokens=6, batch_size=1)[0] for c in conversations]
    assert batched == single and len({o[0] for o in batched}) > 4
    assert seen[0] == 2  # the batch of 8 (after its shared prefix) ran in two groups

    texts = [c[0]["content"] for c in conversations]  # no template: no prefix is shared
    encoded = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    lengths = encoded["attention_mask"].sum(-1).tolist()
    assert len(prefill_groups(lengths)) == 2
    eos = {tokenizer.eos_token_id}
    together = greedy_tokens(model, encoded["input_ids"], encoded["attention_mask"], max_new_tokens=6, eos_ids=eos)
    alone = [
        greedy_tokens(model, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), max_new_tokens=6,
                      eos_ids=eos)[0]
        for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]
    ]  # fmt: skip
    assert together == alone and seen[-len(texts) - 1] == 2
