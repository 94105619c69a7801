"""The generic x-kubernetes-validations evaluator, on small hand-written schemas."""

from __future__ import annotations

from typing import Any

import pytest
from llmservice_operator.tools.render.cel import (
    CELRuleError,
    FieldError,
    Quantity,
    check_schema_rules,
    compile_rule,
    escape_property_name,
    evaluate_validations,
)


def rule(expression: str, **extra: Any) -> dict[str, Any]:
    return {"rule": expression, **extra}


def obj(properties: dict[str, Any], *rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if rules:
        schema["x-kubernetes-validations"] = list(rules)
    return schema


INT = {"type": "integer"}
STR = {"type": "string"}


def test_a_passing_rule_gives_no_error() -> None:
    schema = obj({"a": INT, "b": INT}, rule("self.a <= self.b", message="a above b"))
    assert evaluate_validations(schema, {"a": 1, "b": 2}) == []


def test_a_failing_rule_reports_its_message_at_the_node_path() -> None:
    inner = obj({"a": INT, "b": INT}, rule("self.a <= self.b", message="a above b"))
    schema = obj({"spec": obj({"limits": inner})})
    errors = evaluate_validations(schema, {"spec": {"limits": {"a": 3, "b": 2}}})
    assert errors == [FieldError("spec.limits", "a above b")]
    assert str(errors[0]) == "spec.limits: a above b"


def test_field_path_moves_the_error_to_the_named_field() -> None:
    inner = obj(
        {"a": INT, "b": INT},
        rule("self.a <= self.b", message="a above b", fieldPath=".a", reason="FieldValueForbidden"),
    )
    errors = evaluate_validations(obj({"spec": inner}), {"spec": {"a": 3, "b": 2}})
    assert errors == [FieldError("spec.a", "a above b", "FieldValueForbidden")]


def test_field_path_with_a_map_key() -> None:
    labels = {"type": "object", "additionalProperties": STR}
    schema = obj(
        {"labels": labels},
        rule("!('a.b/c' in self.labels)", message="reserved", fieldPath=".labels['a.b/c']"),
    )
    assert evaluate_validations(schema, {"labels": {"a.b/c": "x"}}, "meta") == [
        FieldError("meta.labels[a.b/c]", "reserved")
    ]


def test_root_path_prefixes_every_error() -> None:
    schema = obj({"a": INT}, rule("self.a > 0", message="positive"))
    assert evaluate_validations(schema, {"a": 0}, root_path="spec.x") == [
        FieldError("spec.x", "positive")
    ]


def test_message_expression_wins_over_message() -> None:
    schema = obj(
        {"min": INT, "max": INT},
        rule(
            "self.min <= self.max",
            message="min above max",
            messageExpression=(
                "'min (' + string(self.min) + ') above max (' + string(self.max) + ')'"
            ),
        ),
    )
    assert evaluate_validations(schema, {"min": 7, "max": 6}) == [
        FieldError("", "min (7) above max (6)")
    ]


def test_a_failing_message_expression_falls_back_to_message() -> None:
    schema = obj(
        {"min": INT},
        rule("self.min < 0", message="static", messageExpression="'x' + self.missing"),
    )
    assert evaluate_validations(schema, {"min": 1}) == [FieldError("", "static")]


def test_without_message_the_rule_itself_is_shown() -> None:
    schema = obj({"a": INT}, rule("self.a == 1"))
    assert evaluate_validations(schema, {"a": 2}) == [FieldError("", "failed rule: self.a == 1")]


def test_rules_run_on_every_list_item_with_indexed_paths() -> None:
    item = obj({"name": STR}, rule("self.name.startsWith('x')", message="must start with x"))
    schema = obj({"items": {"type": "array", "items": item}})
    errors = evaluate_validations(
        schema, {"items": [{"name": "xa"}, {"name": "b"}, {"name": "xc"}, {"name": "d"}]}
    )
    assert errors == [
        FieldError("items[1]", "must start with x"),
        FieldError("items[3]", "must start with x"),
    ]


def test_rules_on_a_list_itself_see_the_whole_list() -> None:
    schema = obj(
        {
            "env": {
                "type": "array",
                "maxItems": 10,
                "items": obj({"name": STR}),
                "x-kubernetes-validations": [
                    rule("self.all(e, self.filter(f, f.name == e.name).size() == 1)", message="dup")
                ],
            }
        }
    )
    assert evaluate_validations(schema, {"env": [{"name": "A"}, {"name": "B"}]}) == []
    assert evaluate_validations(schema, {"env": [{"name": "A"}, {"name": "A"}]}) == [
        FieldError("env", "dup")
    ]


def test_rules_run_on_every_map_value() -> None:
    value = {"type": "integer", "x-kubernetes-validations": [rule("self >= 0", message="neg")]}
    schema = obj({"m": {"type": "object", "additionalProperties": value}})
    assert evaluate_validations(schema, {"m": {"a": 1, "b": -1}}) == [FieldError("m[b]", "neg")]


def test_absent_and_null_values_are_not_checked() -> None:
    child = obj({"a": INT}, rule("self.a > 0", message="positive"))
    schema = obj({"child": {**child, "nullable": True}})
    assert evaluate_validations(schema, {}) == []
    assert evaluate_validations(schema, {"child": None}) == []


def test_null_fields_count_as_absent_for_has() -> None:
    schema = obj({"a": {**INT, "nullable": True}}, rule("!has(self.a)", message="set"))
    assert evaluate_validations(schema, {"a": None}) == []
    assert evaluate_validations(schema, {"a": 1}) == [FieldError("", "set")]


def test_a_rule_that_does_not_compile_is_an_error_not_an_exception() -> None:
    schema = obj({"a": INT}, rule("self.a >", message="m"), rule("self.a == 1", message="one"))
    errors = evaluate_validations(schema, {"a": 2})
    assert len(errors) == 2
    assert "does not compile" in errors[0].message
    assert "self.a >" in errors[0].message
    assert errors[1] == FieldError("", "one")


def test_check_schema_rules_finds_bad_expressions_anywhere() -> None:
    good = obj({"a": INT}, rule("self.a > 0"))
    bad_item = obj({"b": INT}, rule("self.b ==", messageExpression="'ok'"))
    bad_message = obj({"c": INT}, rule("self.c > 0", messageExpression="'unterminated"))
    schema = obj({"good": good, "list": {"type": "array", "items": bad_item}, "m": bad_message})
    errors = check_schema_rules(schema, "spec")
    assert [e.path for e in errors] == [
        "spec.list[*].x-kubernetes-validations",
        "spec.m.x-kubernetes-validations",
    ]
    assert errors[0].message.startswith("rule: ")
    assert errors[1].message.startswith("messageExpression: ")


def test_compile_rule_raises_and_caches() -> None:
    with pytest.raises(CELRuleError, match="does not compile"):
        compile_rule("1 +")
    assert compile_rule("self > 1") is compile_rule("self > 1")


def test_an_evaluation_error_is_reported_with_the_rule() -> None:
    schema = obj({"a": INT}, rule("self.b > 0", message="m"))
    [error] = evaluate_validations(schema, {"a": 1})
    assert error.path == ""
    assert "self.b > 0" in error.message
    assert "evaluation error" in error.message


def test_a_non_boolean_rule_is_an_error() -> None:
    [error] = evaluate_validations(obj({"a": INT}, rule("self.a + 1")), {"a": 1})
    assert "not a bool" in error.message


def test_transition_rules_skip_on_create_and_compare_on_update() -> None:
    schema = obj(
        {"spec": obj({"size": INT}, rule("self.size >= oldSelf.size", message="cannot shrink"))}
    )
    new = {"spec": {"size": 1}}
    assert evaluate_validations(schema, new) == []
    assert evaluate_validations(schema, new, old_obj={"spec": {"size": 5}}) == [
        FieldError("spec", "cannot shrink")
    ]
    assert evaluate_validations(schema, new, old_obj={"spec": {"size": 1}}) == []
    assert evaluate_validations(schema, new, old_obj={}) == []  # spec is new: no old value


def test_property_names_are_escaped_as_kubernetes_does() -> None:
    assert escape_property_name("namespace") == "__namespace__"
    assert escape_property_name("foo-bar") == "foo__dash__bar"
    assert escape_property_name("a.b/c") == "a__dot__b__slash__c"
    assert escape_property_name("a__b") == "a__underscores__b"
    assert escape_property_name("9lives") is None
    schema = obj(
        {"namespace": STR, "x-y": INT},
        rule("self.__namespace__ == 'ns' && self.x__dash__y == 1", message="m"),
    )
    assert evaluate_validations(schema, {"namespace": "ns", "x-y": 1}) == []
    assert evaluate_validations(schema, {"namespace": "other", "x-y": 1}) == [FieldError("", "m")]


def test_date_time_strings_become_timestamps() -> None:
    schema = obj(
        {"t": {"type": "string", "format": "date-time"}},
        rule("self.t < timestamp('2030-01-01T00:00:00Z')", message="too late"),
    )
    assert evaluate_validations(schema, {"t": "2026-01-01T00:00:00Z"}) == []
    assert evaluate_validations(schema, {"t": "2031-01-01T00:00:00Z"}) == [
        FieldError("", "too late")
    ]


def test_number_fields_are_doubles_even_when_written_as_integers() -> None:
    schema = obj({"x": {"type": "number"}}, rule("self.x > 0.5", message="m"))
    assert evaluate_validations(schema, {"x": 1}) == []


def test_preserved_unknown_fields_are_reachable() -> None:
    schema = obj(
        {"raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        rule("has(self.raw.deep) && self.raw.deep.x == 1", message="m"),
    )
    assert evaluate_validations(schema, {"raw": {"deep": {"x": 1}}}) == []
    assert evaluate_validations(schema, {"raw": {}}) == [FieldError("", "m")]


# --------------------------------------------------------------------------------------
# Kubernetes' CEL libraries that cel-python lacks


def value_of(expression: str, value: Any = None) -> Any:
    return compile_rule(expression).evaluate({"self": value})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("500m", 0.5),
        ("2Ki", 2048),
        ("1Gi", 1024**3),
        ("1G", 10**9),
        ("1.5", 1.5),
        ("1e3", 1000),
        ("2E-3", 0.002),
        ("-1k", -1000),
        (".5Mi", 0.5 * 1024**2),
    ],
)
def test_quantity_parses_kubernetes_quantities(text: str, expected: float) -> None:
    assert float(Quantity(text).value) == expected


@pytest.mark.parametrize("text", ["", "2Gb", "1.2.3", "Gi", "1 Gi", "0x10"])
def test_quantity_rejects_what_kubernetes_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid quantity"):
        Quantity(text)
    assert value_of(f"isQuantity('{text}')") is not True
    assert bool(value_of(f"isQuantity('{text}')")) is False


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("quantity('1Gi').compareTo(quantity('1024Mi'))", 0),
        ("quantity('1Gi').compareTo(quantity('1G'))", 1),
        ("quantity('500m').compareTo(quantity('1'))", -1),
        ("quantity('500m').isLessThan(quantity('1'))", True),
        ("quantity('2').isGreaterThan(quantity('1500m'))", True),
        ("quantity('1Gi') == quantity('1024Mi')", True),
        ("quantity('1.5').isInteger()", False),
        ("quantity('2k').asInteger()", 2000),
        ("quantity('250m').asApproximateFloat()", 0.25),
        ("quantity('1').add(quantity('500m')).compareTo(quantity('1500m'))", 0),
        ("quantity('1').sub(2).sign()", -1),
        ("isQuantity('100Mi')", True),
        ("quantity(string(self)).compareTo(quantity('2'))", 0),
    ],
)
def test_quantity_library(expression: str, expected: Any) -> None:
    assert value_of(expression, 2) == expected


def test_quantity_of_a_non_quantity_is_an_evaluation_error() -> None:
    schema = obj({"q": STR}, rule("quantity(self.q).sign() > 0", message="m"))
    [error] = evaluate_validations(schema, {"q": "lots"})
    assert "evaluation error" in error.message


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'AbC'.lowerAscii()", "abc"),
        ("'AbC'.upperAscii()", "ABC"),
        ("'  x '.trim()", "x"),
        ("'a,b,c'.split(',')", ["a", "b", "c"]),
        ("'a,b,c'.split(',', 2)", ["a", "b,c"]),
        ("['a', 'b'].join('-')", "a-b"),
        ("['a', 'b'].join()", "ab"),
        ("'hello'.indexOf('l')", 2),
        ("'hello'.lastIndexOf('l')", 3),
        ("'hello'.indexOf('z')", -1),
        ("'hello'.substring(1, 3)", "el"),
        ("'hello'.substring(2)", "llo"),
        ("'hello'.charAt(1)", "e"),
        ("'a-b-c'.replace('-', '+')", "a+b+c"),
        ("'a-b-c'.replace('-', '+', 1)", "a+b-c"),
        ("[1, 2, 3].isSorted()", True),
        ("[3, 1].isSorted()", False),
        ("[1, 2, 3].sum()", 6),
        ("[4, 2, 9].min()", 2),
        ("[4, 2, 9].max()", 9),
        ("[4, 2, 9].indexOf(9)", 2),
        ("'abc123def'.find('[0-9]+')", "123"),
        ("'a1b22c333'.findAll('[0-9]+')", ["1", "22", "333"]),
        ("'a1b22c333'.findAll('[0-9]+', 2)", ["1", "22"]),
        ("'tinyllama'.matches('^[a-z]+$')", True),
        ("size('abc') == 3 && 'abc'.startsWith('a') && 'abc'.endsWith('c')", True),
        ("'abc'.contains('b')", True),
    ],
)
def test_string_list_and_regex_extensions(expression: str, expected: Any) -> None:
    assert value_of(expression) == expected


def test_substring_out_of_range_is_an_evaluation_error() -> None:
    schema = obj({"s": STR}, rule("self.s.substring(0, 10) == 'x'", message="m"))
    [error] = evaluate_validations(schema, {"s": "abc"})
    assert "evaluation error" in error.message
