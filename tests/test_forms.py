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
    refresh_values,
    spec_from_values,
)
from jupyter_compute.backends.modelarts.forms import parameter_field
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


# --- forms that follow the choices --------------------------------------------------------------------------

CHANGING = Form(
    fields=(
        FormField("extra.kind", "Kind", "choice", choices=("a", "b"), choice_labels=("Kind A", "Kind B")),
        FormField("extra.gpu", "GPU", "boolean"),
        FormField("extra.nodes", "Nodes", "integer"),
        FormField("command", "Command", "text"),
    ),
    refresh_on=("extra.kind", "extra.gpu", "extra.nodes"),
)


def test_refresh_on_and_choice_labels_go_through_json() -> None:
    data = CHANGING.to_dict()
    assert data["refresh_on"] == ["extra.kind", "extra.gpu", "extra.nodes"]
    assert data["fields"][0]["choice_labels"] == ["Kind A", "Kind B"] and data["fields"][1]["choice_labels"] is None
    again = Form.from_dict(data)
    assert again == CHANGING and again.field("extra.kind").choice_label("b") == "Kind B"
    assert again.field("extra.kind").choice_label("c") == "c", "a value not listed reads as itself"
    assert Form.from_dict({"fields": [], "one_of": []}).refresh_on == (), "an older server's form changes with nothing"
    with pytest.raises(ValueError, match="one choice label per choice"):
        FormField("k", "K", "choice", choices=("a", "b"), choice_labels=("A",))


def test_refresh_values_reads_the_query_as_the_fields_types() -> None:
    given = {"extra.kind": "b", "extra.gpu": "true", "extra.nodes": "3"}
    assert refresh_values(CHANGING, given) == {"extra.kind": "b", "extra.gpu": True, "extra.nodes": 3}
    assert refresh_values(CHANGING, {"extra.kind": " ", "extra.nodes": "many"}) == {"extra.nodes": "many"}
    with pytest.raises(InvalidSpec) as info:
        refresh_values(CHANGING, {"command": "true", "extra.kind": "a"})
    assert info.value.field == "command" and "changes with: extra.kind, extra.gpu, extra.nodes" in info.value.message


@pytest.mark.parametrize(("declared", "expected"), [
    pytest.param({"name": "rate", "type": "float", "default": 0.1, "description": "step"},
                 ("params.rate", "number", 0.1, False, None), id="a float with a default"),
    pytest.param({"name": "n", "type": "int"}, ("params.n", "integer", None, True, None), id="no default: required"),
    pytest.param({"name": "ok", "type": "bool", "default": False}, ("params.ok", "boolean", False, False, None),
                 id="a bool"),
    pytest.param({"name": "who", "type": "str", "delay": True}, ("params.who", "string", None, False, None),
                 id="delayed: given later"),
    pytest.param({"name": "opt", "type": "str", "enum": ["x", "y"], "default": "x"},
                 ("params.opt", "choice", "x", False, ("x", "y")), id="an enum: a choice"),
])  # fmt: skip
def test_a_workflow_parameter_becomes_a_typed_field(declared: dict, expected: tuple) -> None:
    made = parameter_field(declared)
    assert (made.name, made.type, made.default, made.required, made.choices) == expected
    assert made.label == declared["name"]


async def test_a_form_that_changes_with_nothing_refuses_choices(api):
    reply = await api("GET", "backends", "local", "form", params={"command": "true"})
    assert reply.status == 400 and reply.body["error"]["field"] == "command", reply.body
    assert "changes with: none" in reply.body["error"]["message"]
    plain = await api("GET", "backends", "local", "form", params={})
    assert plain.status == 200 and plain.body["refresh_on"] == []


async def test_a_query_name_that_is_no_field_is_ignored(api):
    """JupyterLab adds a cache buster (``?<time>``) to its GET requests: no field, no choice, no refusal."""
    reply = await api("GET", "backends", "local", "form", params={"1765050000000": ""})
    assert reply.status == 200 and reply.body["refresh_on"] == [], reply.body


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
