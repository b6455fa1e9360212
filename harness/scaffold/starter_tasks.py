"""Starter items for the tasks other than arithmetic: code with unit tests, JSON extraction, routing labels,
short exact lookups and open help-desk answers. Deterministic, generated from fixed tables.

An :class:`Item` is one question with its reference, an ideal reply (SFT, the chosen side), a worse reply
(the rejected side, a bad label) and, for code, the tests. ``harness.scaffold.starter`` lays items out as
the data files each stage reads.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

ITEMS = [  # (singular, plural, price in credits, aisle, brand)
    ("hammer", "hammers", 12, 3, "Ironclad"),
    ("box of nails", "boxes of nails", 3, 3, "Pointwell"),
    ("tape measure", "tape measures", 7, 5, "Truline"),
    ("paint brush", "paint brushes", 4, 8, "Softstroke"),
    ("ladder", "ladders", 45, 1, "Highstep"),
    ("screwdriver", "screwdrivers", 6, 3, "Ironclad"),
    ("flashlight", "flashlights", 9, 6, "Brightway"),
    ("pair of gloves", "pairs of gloves", 5, 7, "Gripsure"),
    ("saw", "saws", 18, 4, "Keencut"),
    ("bucket", "buckets", 8, 8, "Holdall"),
]


@dataclass(frozen=True)
class Item:
    question: str
    reference: str
    reply: str
    bad: str
    tests: str | None = None


# (function name template, signature, what it does, body, tests) over a constant k.
_FUNCTIONS = [
    ("add_{k}", "x", "returns x plus {k}", "return x + {k}", ["{n}(2) == {a2}", "{n}(-1) == {am1}"]),
    ("times_{k}", "x", "returns x multiplied by {k}", "return x * {k}", ["{n}(3) == {t3}", "{n}(0) == 0"]),
    (
        "is_multiple_of_{k}",
        "n",
        "returns True when n is a multiple of {k}, else False",
        "return n % {k} == 0",
        ["{n}({k2}) is True", "{n}({k2p1}) is False"],
    ),
    ("repeat_{k}", "s", "returns the string s repeated {k} times", "return s * {k}", ["{n}('ab') == 'ab' * {k}"]),
    (
        "clamp_{k}",
        "x",
        "returns x limited to the range 0 to {k}",
        "return min(max(x, 0), {k})",
        ["{n}(-5) == 0", "{n}({kp5}) == {k}", "{n}(1) == 1"],
    ),
    (
        "first_{k}",
        "items",
        "returns the first {k} elements of the list items",
        "return items[:{k}]",
        ["{n}(list(range(20))) == list(range({k}))", "{n}([]) == []"],
    ),
    ("power_{k}", "x", "returns x to the power {k}", "return x ** {k}", ["{n}(2) == {p2}", "{n}(1) == 1"]),
    ("minus_{k}", "x", "returns x minus {k}", "return x - {k}", ["{n}(10) == {m10}", "{n}(0) == -{k}"]),
]


def code_items() -> list[Item]:
    """88 small functions (8 kinds × k = 2..12), each with assert-line tests.

    >>> items = code_items()
    >>> len(items), sorted(items, key=lambda i: i.question)[0].question
    (88, 'Write a Python function `add_10(x)` that returns x plus 10.')
    >>> namespace = {}
    >>> exec(items[0].reference + "\\n" + items[0].tests, namespace)  # the reference passes its tests
    """
    out = []
    for k in range(2, 13):
        values = {
            "k": k, "a2": 2 + k, "am1": k - 1, "t3": 3 * k, "k2": 2 * k, "k2p1": 2 * k + 1,
            "kp5": k + 5, "p2": 2**k, "m10": 10 - k,
        }  # fmt: skip
        for name_t, arg, does, body, tests in _FUNCTIONS:
            name = name_t.format(k=k)
            code = f"def {name}({arg}):\n    {body.format(k=k)}"
            wrong = f"def {name}({arg}):\n    return {arg}"
            out.append(
                Item(
                    question=f"Write a Python function `{name}({arg})` that {does.format(k=k)}.",
                    reference=code,
                    reply=f"```python\n{code}\n```",
                    bad=f"```python\n{wrong}\n```" if k % 2 else f"You can write `{name}` with a one-line return.",
                    tests="\n".join(f"assert {t.format(n=name, **values)}" for t in tests),
                )
            )
    random.Random(11).shuffle(out)
    return out


_ORDER_PHRASES = [
    "Hi, I would like {q} {p}, please.",
    "Can you put {q} {p} aside for me?",
    "Please deliver {q} {p} to my workshop.",
    "I need {q} {p} for the weekend.",
    "Order for pickup: {q} {p}.",
    "Could I get {q} {p} by Friday?",
    "Add {q} {p} to my order, thanks.",
    "We are short of {p}; send {q}.",
    "Reserve {q} {p} under the name Dara.",
]


def extraction_items() -> list[Item]:
    """Order messages and the JSON object to extract (item, quantity).

    >>> items = extraction_items()
    >>> len(items) >= 88, json.loads(items[0].reference)["quantity"] > 0
    (True, True)
    """
    rng = random.Random(5)
    out: list[Item] = []
    seen: set[str] = set()
    while len(out) < 90:
        singular, plural, *_ = rng.choice(ITEMS)
        quantity = rng.randint(2, 20)
        message = rng.choice(_ORDER_PHRASES).format(q=quantity, p=plural)
        if message in seen:
            continue
        seen.add(message)
        reference = json.dumps({"item": singular, "quantity": quantity})
        bad = json.dumps({"item": plural, "quantity": str(quantity)}) if quantity % 2 else f"Sure, {quantity} {plural}!"
        out.append(Item(question=message, reference=reference, reply=reference, bad=bad))
    return out


_ROUTES = {
    "returns": ["my {s} broke after a week, can I bring it back", "I want a refund for the {s} I bought",
                "the {s} you delivered is damaged", "can I exchange this {s} for another one"],
    "hours": ["are you open on Sunday", "what time do you close today", "when do you open on Saturday",
              "are you open on public holidays"],
    "services": ["can you cut two keys for me", "do you mix paint to order", "can I rent a {s}",
                 "do you sharpen tools"],
    "prices": ["how much is a {s}", "what does a {s} cost", "is the {s} cheaper in a pack",
               "what is the price of one {s}"],
}  # fmt: skip


def routing_items() -> list[Item]:
    """Customer messages and the department label each goes to.

    >>> items = routing_items()
    >>> len(items) >= 88, sorted({i.reference for i in items})
    (True, ['hours', 'prices', 'returns', 'services'])
    """
    out: list[Item] = []
    seen: set[str] = set()
    labels = list(_ROUTES)
    for index, (singular, *_rest) in enumerate(ITEMS * 3):
        for offset, label in enumerate(labels):
            template = _ROUTES[label][(index + offset) % 4]
            polite = ("Hello, ", "Quick question: ", "", "Hi there, ", "Sorry to bother you, ", "Good morning, ",
                      "Excuse me, ", "One thing: ")[(index // 4 + offset) % 8]  # fmt: skip
            message = f"{polite}{template.format(s=singular)}?"
            if message in seen:
                continue
            seen.add(message)
            wrong = labels[(labels.index(label) + 1) % 4]
            out.append(Item(question=message, reference=label, reply=label, bad=wrong if index % 2 else "support"))
    random.Random(3).shuffle(out)
    return out[:96]


def lookup_items() -> list[Item]:
    """Short exact answers about the products: price, aisle, brand, and which item a brand makes.

    >>> items = lookup_items()
    >>> len(items) >= 40, items[0].reference != ""
    (True, True)
    """
    out = []
    for singular, _, price, aisle, brand in ITEMS:
        out += [
            Item(f"How many credits does one {singular} cost?", str(price), str(price), f"about {price + 3}"),
            Item(f"In which aisle is the {singular}?", str(aisle), str(aisle), f"aisle {aisle + 1}, I think"),
            Item(f"Which brand is the {singular} we sell?", brand, brand, "a good brand"),
            Item(f"What is the price of a {singular} in credits?", str(price), str(price), "not sure"),
            Item(f"Which aisle should I go to for a {singular}?", str(aisle), str(aisle), "ask at the desk"),
        ]
    random.Random(9).shuffle(out)
    return out


def helpdesk_items(facts: list[tuple[str, str, str, str]]) -> list[Item]:
    """Open questions answered in a sentence: the shop's policy facts, then product facts.

    ``facts`` are (document, sentence, question, key fact); the reply is the sentence itself, politely.
    """
    out = [
        Item(question, reference, f"{sentence} Is there anything else I can help with?", "I'm not sure, sorry.")
        for _, sentence, question, reference in facts
    ]
    for singular, _, price, aisle, brand in ITEMS:
        out += [
            Item(f"How much is a {singular}?", f"{price} credits",
                 f"A {singular} costs {price} credits.", f"A {singular} is about {price * 2} credits."),
            Item(f"Where do I find a {singular}?", f"aisle {aisle}",
                 f"You will find the {singular} in aisle {aisle}.", "Somewhere in the shop."),
            Item(f"What brand of {singular} do you stock?", brand,
                 f"We stock {brand} for the {singular}.", "Many brands."),
        ]  # fmt: skip
    return out
