"""Declared submit forms: the shared check, the conversions, and the server serving and enforcing them."""

from __future__ import annotations

import re
import sys

import pytest

from jupyter_compute.errors import InvalidSpec
from jupyter_compute.forms import (
    BLANK,
    NOT_BLANK_TEXT,
    FieldType,
    Form,
    FormField,
    check_spec,
    check_values,
    field_types,
    spec_from_values,
)
from jupyter_compute.server.spec_schema import field_schema

FORM = Form(
    fields=(
        FormField("command", "Shell command", "text"),
        FormField("code", "Python code", "code"),
        FormField("flavor", "Flavor", "choice", required=True, choices=("small", "large")),
        FormField("nodes", "Nodes", "integer", min=1, max=8),
        FormField("timeout_s", "Time limit", "number", min=1),
        FormField("params.rows", "Rows", "integer", required=True, min=0),
        FormField("tags", "Tags", "tags"),
        FormField("debug", "Debug", "boolean"),
    ),
    one_of=(("command", "code"),),
)
GOOD = {"command": "true", "flavor": "small", "params.rows": 3}


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"flavor": None}, "flavor", "Flavor is required"),
    ({"flavor": "huge"}, "flavor", "must be one of: small, large"),
    ({"params.rows": ""}, "params.rows", "Rows is required"),
    ({"params.rows": -1}, "params.rows", "at least 0"),
    ({"nodes": 9}, "nodes", "at most 8"),
    ({"nodes": 2.5}, "nodes", "whole number"),
    ({"nodes": "2"}, "nodes", "must be a number"),
    ({"nodes": True}, "nodes", "must be a number"),
    ({"timeout_s": float("nan")}, "timeout_s", "must be a number"),
    ({"debug": "yes"}, "debug", "true or false"),
    ({"tags": ["a", 1]}, "tags", "list of words"),
    ({"command": None}, "command", "give exactly one of Shell command or Python code"),
    ({"code": "print(1)"}, "command", "give exactly one of"),
    ({"command": 5}, "command", "must be text"),
    ({"command": "echo a\0b"}, "command", "must not contain a NUL character"),
    ({"tags": ["a", "b\0"]}, "tags", "must not contain a NUL character"),
])
def test_check_values_names_the_field(changes, field, words) -> None:
    problems = check_values(FORM, {**GOOD, **changes})
    assert field in problems and words in problems[field], problems


def test_blank_is_what_strip_removes() -> None:
    blank = re.compile(BLANK)
    assert [c for c in range(sys.maxunicode + 1) if blank.fullmatch(chr(c))] == \
        [c for c in range(sys.maxunicode + 1) if chr(c).isspace()]


def test_a_pattern_fits_the_whole_text_and_each_tag() -> None:
    form = Form(fields=(FormField("algorithm", "Algorithm", pattern=" *[0-9]+ *", help="A process id."),
                        FormField("inputs", "Granules", "tags", pattern=NOT_BLANK_TEXT)))
    assert check_values(form, {"algorithm": " 12 ", "inputs": ["g1", " g2"]}) == {}
    assert check_values(form, {"algorithm": "12\n", "inputs": ["g1", " \u3000", {"id": "g3"}]}) == {
        "algorithm": "Algorithm is not in the expected form: A process id.",
        "inputs": f"Granules has an item not in the expected form: {NOT_BLANK_TEXT}",
    }


def test_good_values_pass_and_become_a_spec() -> None:
    assert check_values(FORM, GOOD) == {}
    spec = spec_from_values(FORM, {**GOOD, "nodes": None, "tags": []})
    assert spec == {"command": "true", "flavor": "small", "params": {"rows": 3}}


def test_form_round_trips_through_json() -> None:
    assert Form.from_dict(FORM.to_dict()) == FORM
    with pytest.raises(ValueError):
        FormField("x", "X", "colour")


def test_a_new_field_type_is_one_class(monkeypatch) -> None:
    monkeypatch.setattr(field_types, "_TYPES", dict(field_types._TYPES))  # forgotten after the test

    class Percent(FieldType):
        name = "percent"

        def type_problem(self, value, form_field):
            return None if isinstance(value, int) and 0 <= value <= 100 else "must be a percentage"

        def value_schema(self, form_field, *, given):
            return {"type": "integer", "minimum": 0, "maximum": 100}

        def widget(self, form_field):  # the notebook's widget: not needed to check or describe the field
            raise NotImplementedError

    share = FormField("params.share", "Share", "percent", help="Of the cluster.")
    form = Form(fields=(share,))
    assert Form.from_dict(form.to_dict()) == form and share.to_dict()["type"] == "percent"
    assert check_values(form, {"params.share": 40}) == {}
    assert check_values(form, {"params.share": 140}) == {"params.share": "Share must be a percentage"}
    assert check_values(form, {"params.share": "a\0"}) == {"params.share": "Share must be a percentage"}
    assert field_schema(share) == {"type": ["integer", "null"], "minimum": 0, "maximum": 100,
                                   "title": "Share", "description": "Of the cluster."}
    with pytest.raises(InvalidSpec) as info:
        check_spec(form, {"params": {"share": -1}})
    assert info.value.field == "params.share"


def test_check_spec_raises_for_the_first_problem() -> None:
    with pytest.raises(InvalidSpec) as info:
        check_spec(FORM, {"command": "true", "flavor": "small", "params": {"rows": 200}, "nodes": 0})
    assert info.value.field == "nodes"


async def test_server_serves_the_local_form(api):
    reply = await api("GET", "backends", "local", "form")
    assert reply.status == 200
    form = Form.from_dict(reply.body)
    names = [f.name for f in form.fields]
    assert {"command", "script", "code", "notebook", "params", "timeout_s", "environment"} <= set(names)
    assert form.one_of == (("command", "script", "code", "notebook"),)
    assert form.field("environment").choices == ("local",)
    assert (await api("GET", "backends", "nowhere", "form")).status == 404


async def test_server_enforces_the_form(api):
    too_short = await api("POST", "jobs", body={"command": "true", "timeout_s": 0.5})
    assert too_short.status == 400
    assert too_short.body["error"]["field"] == "timeout_s" and "at least 1" in too_short.body["error"]["message"]
    missing = await api("POST", "jobs", body={"name": "nothing to run"})
    assert missing.status == 400 and missing.body["error"]["field"] == "command"
    assert (await api("GET", "jobs")).body["total"] == 0
