"""The question bank: ``questions.yaml`` loaded into typed questions, and when each is asked.

>>> bank = load_questions()
>>> [q.id for q in bank][:4]
['goals', 'knowledge_changes', 'knowledge_docs', 'instruction_complexity']
>>> knowledge = next(q for q in bank if q.id == "knowledge_changes")
>>> knowledge.applies({"goals": ["style"]}), knowledge.applies({"goals": ["style", "knowledge"]})
(False, True)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from advisor.schema import Answers

QUESTIONS_FILE = Path(__file__).with_name("questions.yaml")


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str
    label: str


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The answer key this question fills.")
    type: Literal["single", "multi", "int", "bool"]
    text: str
    help: str = Field(description="Why this matters, in one line, shown on demand.")
    options: list[Option] = []
    when: dict[str, list[Any]] = Field(default={}, description="Asked only when these answers match.")

    @property
    def default(self) -> Any:
        return Answers.model_fields[self.id].default

    def applies(self, answers: dict[str, Any]) -> bool:
        """Whether to ask, given the answers so far (missing ones take their defaults)."""
        for key, allowed in self.when.items():
            value = answers.get(key, Answers.model_fields[key].default)
            values = value if isinstance(value, list) else [value]
            if not set(values) & set(allowed):
                return False
        return True

    def label_of(self, value: Any) -> str:
        return next((o.label for o in self.options if o.value == value), str(value))


@lru_cache(maxsize=1)
def load_questions(path: Path = QUESTIONS_FILE) -> tuple[Question, ...]:
    from posttrain.safe_files import read_yaml

    data, _ = read_yaml(path, "question bank")
    questions = tuple(Question.model_validate(item) for item in data)
    check_questions(questions)
    return questions


def check_questions(questions: tuple[Question, ...]) -> None:
    """The bank and the answers schema must agree: one question per key, the same option values."""
    ids = [q.id for q in questions]
    assert sorted(ids) == sorted(Answers.model_fields), f"questions {ids} != answer keys"
    for q in questions:
        annotation = Answers.model_fields[q.id].annotation
        if q.type in ("single", "multi"):
            literal = get_args(annotation)[0] if get_origin(annotation) is list else annotation
            assert sorted(o.value for o in q.options) == sorted(get_args(literal)), q.id
        for key in q.when:
            assert ids.index(key) < ids.index(q.id), f"{q.id} depends on {key}, which is asked later"
