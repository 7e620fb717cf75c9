"""Validating a ``/predict`` body with a report of bounded size, whatever it holds.

pydantic collects every problem of a body: a 2 MB body of bad rows has 400,000 of
them, which cost 150 MB to collect and 200 MB more to list (measured), and would make
a 17 MB answer. Here rows are validated with ``fail_fast`` (the first bad row stops
the whole validation), and only when a body fails are its rows validated again, a
chunk at a time, to count every problem while keeping the first ``MAX_REPORTED``:
memory is bounded by a chunk, the report by ``MAX_REPORTED`` entries of bounded text.
"""

from __future__ import annotations

from pydantic import BaseModel, TypeAdapter, ValidationError

MAX_REPORTED = 20
MAX_TEXT = 200
_CHUNK_ROWS = 256


class BodyProblems(Exception):
    """``total`` problems in the body, of which ``details`` are the first few."""

    def __init__(self, total: int, details: list[dict]):
        super().__init__(f"{total} problems")
        self.total, self.details = total, details


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def detail(problem: dict, prefix: tuple = ()) -> dict:
    """One pydantic problem as ``{"loc", "msg", "type"}``, ``loc`` dotted and bounded."""
    loc = ".".join(str(part) for part in (*prefix, *problem["loc"])) or "body"
    return {"loc": _short(loc), "msg": _short(problem["msg"]), "type": problem["type"]}


def _problems(error: ValidationError) -> list[dict]:
    return error.errors(include_url=False, include_input=False, include_context=False)


def validate_body(model: type[BaseModel], rows: TypeAdapter, payload) -> BaseModel:
    """``model`` validated from ``payload``, or ``BodyProblems``. ``model`` validates
    its rows with ``fail_fast``; ``rows`` validates a list of rows without it, so that
    re-validating a chunk finds each of its problems."""
    extra = [key for key in payload if key not in model.model_fields] if isinstance(payload, dict) else []
    if len(extra) > MAX_REPORTED:  # a problem per unknown key: have a few listed, count the rest here
        unlisted = set(extra[MAX_REPORTED:])
        payload = {key: value for key, value in payload.items() if key not in unlisted}
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        found = _problems(error)
    in_rows = [problem for problem in found if len(problem["loc"]) > 1 and problem["loc"][0] == "instances"]
    elsewhere = [problem for problem in found if problem not in in_rows]
    total = len(elsewhere) + max(len(extra) - MAX_REPORTED, 0)
    details = [detail(problem, ("body",)) for problem in elsewhere[:MAX_REPORTED]]
    if in_rows:
        row_total, row_details = _row_problems(rows, payload["instances"], MAX_REPORTED - len(details))
        total, details = total + row_total, details + row_details
    raise BodyProblems(total, details)


def _row_problems(rows: TypeAdapter, instances: list, wanted: int) -> tuple[int, list[dict]]:
    """Every problem of the rows counted, the first ``wanted`` described."""
    total, details = 0, []
    for start in range(0, len(instances), _CHUNK_ROWS):
        try:
            rows.validate_python(instances[start:start + _CHUNK_ROWS])
        except ValidationError as error:
            total += error.error_count()
            for problem in _problems(error)[: max(wanted - len(details), 0)]:
                index, *rest = problem["loc"]
                details.append(detail({**problem, "loc": (start + index, *rest)}, ("body", "instances")))
    return total, details
