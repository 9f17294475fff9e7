"""Parsing and validating ECR lifecycle policy text (`cargohold.formats.lifecycle`).

The valid table is every policy on AWS's "Examples of lifecycle policies in Amazon
ECR" page that uses the ``expire`` action, in both its current (``tagPatternList``)
and its earlier (``tagPrefixList``) wording. The invalid table pairs each broken
policy with a fragment of the message the user sees.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from cargohold.errors import RequestInvalid
from cargohold.formats.lifecycle import (
    MAX_POLICY_TEXT,
    CountType,
    LifecyclePolicy,
    LifecycleRule,
    Selection,
    TagStatus,
    match_tag_pattern,
    parse_policy,
)


def rule(
    priority: int,
    selection: dict[str, Any],
    description: str | None = None,
    action: dict[str, Any] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"rulePriority": priority}
    if description is not None:
        out["description"] = description
    out["selection"] = selection
    out["action"] = {"type": "expire"} if action is None else action
    return out


def count(n: int, status: str = "tagged", **lists: list[str]) -> dict[str, Any]:
    return {
        "tagStatus": status,
        **_lists(lists),
        "countType": "imageCountMoreThan",
        "countNumber": n,
    }


def age(
    n: int, status: str = "tagged", kind: str = "sinceImagePushed", **lists: list[str]
) -> dict[str, Any]:
    return {
        "tagStatus": status,
        **_lists(lists),
        "countType": kind,
        "countUnit": "days",
        "countNumber": n,
    }


def _lists(lists: dict[str, list[str]]) -> dict[str, list[str]]:
    names = {"prefixes": "tagPrefixList", "patterns": "tagPatternList"}
    return {names[key]: value for key, value in lists.items()}


def text(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)}, indent=4)


def padded(document: Any) -> str:
    """Compact JSON padded with trailing spaces to ECR's 100-character minimum, so
    that the check under test is not pre-empted by the length check."""
    return json.dumps(document).ljust(100)


# The examples page, section by section. "Filtering on last pulled time" and the
# archive examples use the transition action; they are in the invalid table.
DOCUMENTED = {
    "image age (tagPatternList prod*, 14 days)": text(
        rule(1, age(14, patterns=["prod*"]), "Expire images older than 14 days")
    ),
    "image age (earlier wording: untagged, 14 days)": text(
        rule(1, age(14, "untagged"), "Expire images older than 14 days")
    ),
    "image count (keep one untagged)": text(
        rule(1, count(1, "untagged"), "Keep only one untagged image, expire all others")
    ),
    "multiple rules, example A": text(
        rule(1, count(1, patterns=["prod*"]), "Rule 1"),
        rule(2, count(1, patterns=["beta*"]), "Rule 2"),
    ),
    "multiple rules, example A (prefixes)": text(
        rule(1, count(1, prefixes=["prod"]), "Rule 1"),
        rule(2, count(1, prefixes=["beta"]), "Rule 2"),
    ),
    "multiple rules, example B": text(
        rule(1, count(1, patterns=["beta*"]), "Rule 1"),
        rule(2, count(1, patterns=["prod*"]), "Rule 2"),
    ),
    "multiple tags in a single rule, example A": text(
        rule(1, age(5, patterns=["alpha*", "beta*"]), "Rule 1")
    ),
    "multiple tags in a single rule, example A (prefixes)": text(
        rule(1, age(5, prefixes=["alpha", "beta"]), "Rule 1")
    ),
    "multiple tags in a single rule, example B": text(
        rule(1, count(1, patterns=["alpha*", "beta*"]), "Rule 1")
    ),
    "all images, example A": text(rule(1, count(1, "any"), "Rule 1")),
    "all images, example B": text(
        rule(1, count(1, patterns=["alpha*"]), "Rule 1"),
        rule(2, age(1, "untagged"), "Rule 2"),
        rule(3, count(1, "any"), "Rule 3"),
    ),
    "all images, example B (prefixes)": text(
        rule(1, count(1, prefixes=["alpha"]), "Rule 1"),
        rule(2, age(1, "untagged"), "Rule 2"),
        rule(3, count(1, "any"), "Rule 3"),
    ),
    # lifecycle_policy_parameters: "[\"*test*1*2*3\", \"test*1*2*3*\"] is valid".
    "four wildcards per pattern": text(
        rule(1, count(100, patterns=["*test*1*2*3", "test*1*2*3*"]))
    ),
    # A few shapes the pages describe but do not spell out.
    "sinceImagePulled with expire (a Cargohold extension)": text(
        rule(1, age(90, "any", "sinceImagePulled"), "Expire images not pulled in 90 days")
    ),
    "explicit default storage class": text(
        rule(1, {**count(1, "untagged"), "storageClass": "standard"})
    ),
    "priorities need not be sequential; any last": text(
        rule(10, count(3, prefixes=["release-"])),
        rule(20, count(3, patterns=["*-rc*"])),
        rule(25, age(7, "untagged")),
        rule(99, age(365, "any")),
    ),
    "rules listed out of priority order": text(
        rule(2, count(1, "any")),
        rule(1, age(1, "untagged")),
    ),
    "the same prefixes may appear as patterns in another rule": text(
        rule(1, count(1, prefixes=["prod"])),
        rule(2, count(1, patterns=["prod"])),
    ),
    "overlapping but different prefix sets": text(
        rule(1, count(1, prefixes=["prod"])),
        rule(2, count(1, prefixes=["prod", "beta"])),
    ),
}


@pytest.mark.parametrize("policy_text", DOCUMENTED.values(), ids=DOCUMENTED.keys())
def test_documented_policies_parse_and_round_trip(policy_text: str) -> None:
    policy = parse_policy(policy_text)
    canonical = policy.to_json()
    assert LifecyclePolicy.from_json(canonical) == policy
    assert canonical == LifecyclePolicy.from_json(canonical).to_json()
    assert [r.rule_priority for r in policy.rules] == sorted(r.rule_priority for r in policy.rules)


def test_parsed_fields() -> None:
    policy = parse_policy(DOCUMENTED["all images, example B"])
    assert policy.rules == (
        LifecycleRule(
            1,
            Selection(
                TagStatus.TAGGED, CountType.IMAGE_COUNT_MORE_THAN, 1, tag_pattern_list=("alpha*",)
            ),
            "Rule 1",
        ),
        LifecycleRule(2, Selection(TagStatus.UNTAGGED, CountType.SINCE_IMAGE_PUSHED, 1), "Rule 2"),
        LifecycleRule(3, Selection(TagStatus.ANY, CountType.IMAGE_COUNT_MORE_THAN, 1), "Rule 3"),
    )
    assert policy.rules[1].selection.count_unit == "days"
    assert policy.rules[0].selection.count_unit is None


def test_canonical_text() -> None:
    policy = parse_policy(
        text(
            rule(2, {**count(1, "any"), "storageClass": "standard"}),
            rule(1, age(14, prefixes=["prod", "beta"]), "Expire old prod betas"),
        )
    )
    assert policy.to_json() == (
        '{"rules":['
        '{"rulePriority":1,"description":"Expire old prod betas","selection":'
        '{"tagStatus":"tagged","tagPrefixList":["prod","beta"],"countType":"sinceImagePushed",'
        '"countUnit":"days","countNumber":14},"action":{"type":"expire"}},'
        '{"rulePriority":2,"selection":{"tagStatus":"any","countType":"imageCountMoreThan",'
        '"countNumber":1},"action":{"type":"expire"}}]}'
    )


def test_built_policy_serialises_to_parseable_text() -> None:
    """The smallest possible canonical text is still over ECR's 100-character floor."""
    policy = LifecyclePolicy(
        (LifecycleRule(1, Selection(TagStatus.ANY, CountType.IMAGE_COUNT_MORE_THAN, 1)),)
    )
    assert len(policy.to_json()) >= 100
    assert parse_policy(policy.to_json()) == policy


def test_non_ascii_description_round_trips() -> None:
    policy = parse_policy(text(rule(1, count(1, "any"), "Ménage: garder l'image la plus récente")))
    assert parse_policy(policy.to_json()) == policy


def test_length_limits() -> None:
    smallest = text(rule(1, count(1, "any")))
    assert parse_policy(smallest.ljust(MAX_POLICY_TEXT))
    with pytest.raises(RequestInvalid, match="100 to 30720 characters long, not 30721"):
        parse_policy(smallest.ljust(MAX_POLICY_TEXT + 1))
    with pytest.raises(RequestInvalid, match="100 to 30720 characters long, not 99"):
        parse_policy('{"rules":[]}'.ljust(99))


def test_text_must_be_a_string() -> None:
    with pytest.raises(RequestInvalid, match="must be a string"):
        parse_policy(text(rule(1, count(1, "any"))).encode())  # type: ignore[arg-type]


GOOD = rule(1, count(1, "any"))


def broken(
    change: dict[str, Any] | None = None, *, drop: str | None = None, where: str = "selection"
) -> str:
    """A one-rule policy with one field of ``where`` changed or dropped."""
    base = copy.deepcopy(rule(1, count(3, prefixes=["prod"])))
    target = base if where == "rule" else base[where]
    if drop is not None:
        del target[drop]
    target.update(change or {})
    return padded({"rules": [base]})


INVALID: dict[str, tuple[str, str]] = {
    # The document as a whole.
    "not JSON": ("{" + " " * 120, "is not valid JSON"),
    "trailing garbage": (text(GOOD) + " ]", "is not valid JSON"),
    "huge number": (
        padded({"rules": []}).replace("[]", "[" + "9" * 5000 + "]"),
        "is not valid JSON",
    ),
    "not an object": (padded([GOOD]), 'JSON object with a "rules" list'),
    "unknown top-level field": (padded({"rules": [GOOD], "version": 1}), 'unknown field "version"'),
    "no rules field": (padded({"Rules": [GOOD]}), 'unknown field "Rules"'),
    "rules missing": (padded({}), '"rules" field is required'),
    "rules not a list": (padded({"rules": GOOD}), '"rules" must be a list'),
    "no rules": (padded({"rules": []}), "at least one rule"),
    "duplicate key": (
        padded({"rules": [GOOD]}).replace('"countNumber": 1', '"countNumber": 1, "countNumber": 2'),
        'field "countNumber" appears twice',
    ),
    # A rule.
    "rule not an object": (
        padded({"rules": [GOOD, "rule 2"]}),
        "rules[1]: each rule must be a JSON object",
    ),
    "unknown rule field": (
        broken({"enabled": True}, where="rule"),
        'rule 1: unknown field "enabled"',
    ),
    "rulePriority missing": (
        broken(drop="rulePriority", where="rule"),
        "rules[0]: rulePriority is required",
    ),
    "rulePriority zero": (broken({"rulePriority": 0}, where="rule"), "positive integer, not 0"),
    "rulePriority negative": (
        broken({"rulePriority": -3}, where="rule"),
        "positive integer, not -3",
    ),
    "rulePriority string": (
        broken({"rulePriority": "1"}, where="rule"),
        'positive integer, not "1"',
    ),
    "rulePriority float": (
        broken({"rulePriority": 1.5}, where="rule"),
        "positive integer, not 1.5",
    ),
    "rulePriority bool": (
        broken({"rulePriority": True}, where="rule"),
        "positive integer, not true",
    ),
    "description not a string": (
        broken({"description": 7}, where="rule"),
        "rule 1: description must be a string",
    ),
    "description null": (
        broken({"description": None}, where="rule"),
        "rule 1: description must be a string",
    ),
    "selection missing": (broken(drop="selection", where="rule"), "rule 1: selection is required"),
    "selection not an object": (
        broken({"selection": []}, where="rule"),
        "selection must be a JSON object",
    ),
    "action missing": (broken(drop="action", where="rule"), "rule 1: action is required"),
    "action not an object": (
        broken({"action": "expire"}, where="rule"),
        "action must be a JSON object",
    ),
    # The selection.
    "unknown selection field": (
        broken({"tagPrefix": "prod"}),
        'unknown field "selection.tagPrefix"',
    ),
    "tagStatus missing": (broken(drop="tagStatus"), "selection.tagStatus is required"),
    "tagStatus unknown": (
        broken({"tagStatus": "TAGGED"}),
        'tagStatus must be one of "tagged", "untagged", "any", not "TAGGED"',
    ),
    "tagStatus not a string": (broken({"tagStatus": ["tagged"]}), 'not ["tagged"]'),
    "tagged without a list": (
        broken(drop="tagPrefixList"),
        'tagStatus "tagged" needs a selection.tagPatternList',
    ),
    "tagged with both lists": (
        broken({"tagPatternList": ["prod*"]}),
        "a tagPatternList or a tagPrefixList, not both",
    ),
    "untagged with prefixes": (
        broken({"tagStatus": "untagged"}),
        'tagPrefixList is only allowed with tagStatus "tagged", not "untagged"',
    ),
    "any with patterns": (
        broken({"tagStatus": "any", "tagPatternList": ["x*"]}, drop="tagPrefixList"),
        'tagPatternList is only allowed with tagStatus "tagged", not "any"',
    ),
    "empty prefix list": (broken({"tagPrefixList": []}), "tagPrefixList must be a non-empty list"),
    "prefix list not a list": (
        broken({"tagPrefixList": "prod"}),
        "tagPrefixList must be a non-empty list",
    ),
    "empty pattern string": (
        broken({"tagPatternList": ["prod*", ""]}, drop="tagPrefixList"),
        'tagPatternList entries must be non-empty strings, not ""',
    ),
    "non-string prefix": (
        broken({"tagPrefixList": [1]}),
        "entries must be non-empty strings, not 1",
    ),
    # lifecycle_policy_parameters: "[\"test*1*2*3*4*5*6\"] is invalid".
    "six wildcards": (
        broken({"tagPatternList": ["test*1*2*3*4*5*6"]}, drop="tagPrefixList"),
        '"test*1*2*3*4*5*6" has 6 wildcards; at most 4',
    ),
    "five wildcards": (
        broken({"tagPatternList": ["ok", "*a*b*c*d*"]}, drop="tagPrefixList"),
        "has 5 wildcards",
    ),
    "wildcard in a prefix": (
        broken({"tagPrefixList": ["prod*"]}),
        "use selection.tagPatternList for wildcards",
    ),
    "countType missing": (broken(drop="countType"), "selection.countType is required"),
    "countType unknown": (broken({"countType": "imageCountLessThan"}), 'not "imageCountLessThan"'),
    "countUnit with a count": (
        broken({"countUnit": "days"}),
        "countUnit must be left out when countType is imageCountMoreThan",
    ),
    "countUnit missing": (
        broken({"countType": "sinceImagePushed"}),
        'countUnit is required when countType is sinceImagePushed; set it to "days"',
    ),
    "countUnit missing (pulled)": (
        broken({"countType": "sinceImagePulled"}),
        "countUnit is required when countType is sinceImagePulled",
    ),
    "countUnit hours": (
        broken({"countType": "sinceImagePushed", "countUnit": "hours"}),
        'countUnit must be "days", not "hours"',
    ),
    "countUnit capitalised": (
        broken({"countType": "sinceImagePushed", "countUnit": "Days"}),
        'not "Days"',
    ),
    "countNumber missing": (broken(drop="countNumber"), "selection.countNumber is required"),
    "countNumber zero": (
        broken({"countNumber": 0}),
        "countNumber must be a positive integer (0 is not allowed), not 0",
    ),
    "countNumber negative": (broken({"countNumber": -1}), "not -1"),
    "countNumber string": (broken({"countNumber": "5"}), 'not "5"'),
    "countNumber float": (broken({"countNumber": 5.0}), "not 5.0"),
    "countNumber bool": (broken({"countNumber": True}), "not true"),
    "countNumber null": (broken({"countNumber": None}), "not null"),
    "storageClass unknown": (
        broken({"storageClass": "glacier"}),
        'storageClass must be "standard", not "glacier"',
    ),
    # The action.
    "action type missing": (
        broken({}, drop="type", where="action"),
        'action.type is required; use "expire"',
    ),
    "action type delete": (
        broken({"type": "delete"}, where="action"),
        'action.type must be "expire", not "delete"',
    ),
    "action type capitalised": (broken({"type": "Expire"}, where="action"), 'not "Expire"'),
    "unknown action field": (broken({"days": 3}, where="action"), 'unknown field "action.days"'),
    "targetStorageClass with expire": (
        broken({"targetStorageClass": "archive"}, where="action"),
        'action.targetStorageClass only goes with action.type "transition"',
    ),
    # Archive storage, which Cargohold does not have: the documented examples.
    "documented: filtering on last pulled time": (
        text(
            rule(
                1,
                age(90, "any", "sinceImagePulled"),
                "Archive images not pulled in 90 days",
                {"type": "transition", "targetStorageClass": "archive"},
            )
        ),
        'rule 1: action.type "transition" is not supported: Cargohold has no archive storage class',
    ),
    "documented: filtering on archive transition time": (
        text(
            rule(
                1,
                {**age(365, "any", "sinceImageTransitioned"), "storageClass": "archive"},
                "Expire images archived for more than 365 days",
            )
        ),
        'selection.storageClass "archive" is not supported: Cargohold has no archive storage class',
    ),
    "documented: archiving images older than 30 days": (
        text(
            rule(
                1,
                age(30, patterns=["prod*"]),
                "Archive production images older than 30 days",
                {"type": "transition", "targetStorageClass": "archive"},
            )
        ),
        'only "expire" is',
    ),
    "sinceImageTransitioned without storageClass": (
        broken({"countType": "sinceImageTransitioned", "countUnit": "days"}),
        'countType "sinceImageTransitioned" is not supported: Cargohold has no archive',
    ),
    # Across rules.
    "duplicate priority": (
        text(rule(1, count(1, "untagged")), rule(1, count(1, prefixes=["prod"]))),
        "two rules have rulePriority 1",
    ),
    "any not last": (
        text(rule(1, count(5, "any")), rule(2, age(1, "untagged"))),
        'rule 1: a rule with tagStatus "any" must have the highest rulePriority, but rule 2',
    ),
    "two any rules": (
        text(rule(1, age(30, "any")), rule(2, count(50, "any"))),
        'rule 1: a rule with tagStatus "any" must have the highest rulePriority',
    ),
    "two untagged rules": (
        text(
            rule(1, count(1, "untagged")),
            rule(3, count(1, prefixes=["x"])),
            rule(5, age(3, "untagged")),
        ),
        'rules 1 and 5 both have tagStatus "untagged"; only one rule may select untagged',
    ),
    "same prefix set twice": (
        text(
            rule(1, count(1, prefixes=["prod", "beta"])), rule(2, age(9, prefixes=["beta", "prod"]))
        ),
        'rule 2: selection.tagPrefixList ["beta", "prod"] is the same as rule 1\'s',
    ),
    "same pattern set twice": (
        text(rule(4, count(1, patterns=["v*"])), rule(7, age(9, patterns=["v*", "v*"]))),
        'rule 7: selection.tagPatternList ["v*"] is the same as rule 4\'s',
    ),
}


@pytest.mark.parametrize(("policy_text", "fragment"), INVALID.values(), ids=INVALID.keys())
def test_invalid_policies(policy_text: str, fragment: str) -> None:
    assert len(policy_text) >= 100, "too short: the length check would answer first"
    with pytest.raises(RequestInvalid) as caught:
        parse_policy(policy_text)
    message = str(caught.value)
    assert message.startswith("lifecycle policy")
    assert fragment in message


def test_long_values_are_cut_short_in_messages() -> None:
    with pytest.raises(RequestInvalid) as caught:
        parse_policy(broken({"tagStatus": "x" * 500}))
    assert len(str(caught.value)) < 200
    assert '"xxx' in str(caught.value)


@pytest.mark.parametrize(
    ("rule_priority", "selection", "fragment"),
    [
        (0, Selection(TagStatus.ANY, CountType.IMAGE_COUNT_MORE_THAN, 1), "rulePriority must be"),
        (1, Selection(TagStatus.ANY, CountType.IMAGE_COUNT_MORE_THAN, 0), "countNumber must be"),
        (
            1,
            Selection(TagStatus.TAGGED, CountType.SINCE_IMAGE_PUSHED, 3, ("a",), ("b*",)),
            "not both",
        ),
    ],
)
def test_built_rules_are_checked_too(
    rule_priority: int, selection: Selection, fragment: str
) -> None:
    with pytest.raises(RequestInvalid, match=fragment):
        LifecycleRule(rule_priority, selection)


def test_built_policy_needs_a_rule() -> None:
    with pytest.raises(RequestInvalid, match="at least one rule"):
        LifecyclePolicy(())


@pytest.mark.parametrize(
    ("pattern", "tag", "matches"),
    [
        # LifecyclePolicies.md: prod* matches prod, prod1, production-team1;
        # *prod* matches repo-production and prod-team.
        ("prod*", "prod", True),
        ("prod*", "prod1", True),
        ("prod*", "production-team1", True),
        ("*prod*", "repo-production", True),
        ("*prod*", "prod-team", True),
        ("prod*", "preprod", False),
        ("prod", "prod", True),
        ("prod", "prod1", False),  # the whole tag must match
        ("prod", "aprod", False),
        ("*", "anything.at_all-1", True),
        ("**", "x", True),
        ("*-rc*", "v1.2-rc3", True),
        ("*-rc*", "v1.2", False),
        ("v*.*.*", "v1.22.3", True),
        ("v*.*.*", "v1.22", False),
        ("a*a", "a", False),  # the two a's may not be the same character
        ("a*a", "aa", True),
        ("a*a", "abca", True),
        ("ab*cd", "abcd", True),
        ("ab*cd", "abd", False),
        ("ab*b*b", "abb", False),
        ("ab*b*b", "abbb", True),
        ("*test*1*2*3", "my-test-1-2-3", True),
        ("*test*1*2*3", "my-test-1-3-2", False),
        ("test*1*2*3*", "test123", True),
        ("*.*", "latest", False),
        ("PROD*", "prod", False),  # case matters, as it does for tags
    ],
)
def test_tag_patterns(pattern: str, tag: str, matches: bool) -> None:
    assert match_tag_pattern(pattern, tag) is matches
