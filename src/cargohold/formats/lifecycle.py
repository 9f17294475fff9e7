"""Amazon ECR lifecycle policies: parse, validate and serialise the policy JSON. No I/O.

A policy is the document ECR's ``PutLifecyclePolicy`` takes as ``lifecyclePolicyText``::

    {"rules": [{"rulePriority": 1, "description": "...",
                "selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"],
                              "countType": "imageCountMoreThan", "countNumber": 5},
                "action": {"type": "expire"}}]}

We accept what ECR accepts for the ``expire`` action on standard storage, checked
against the AWS user guide pages ``lifecycle_policy_parameters``,
``LifecyclePolicies`` ("Lifecycle policy evaluation rules") and
``lifecycle_policy_examples``, and the ``PutLifecyclePolicy`` API reference (text
length 100-30,720). Where we differ, on purpose:

- There is no archive storage class, so ``action.type: transition``,
  ``targetStorageClass``, ``countType: sinceImageTransitioned`` and
  ``storageClass: archive`` are refused with a message saying so.
  ``storageClass: standard`` (ECR's default) is accepted and dropped.
- ECR allows ``sinceImagePulled`` only with ``transition``; as we have no
  ``transition``, we allow it with ``expire``.
- Unknown fields and duplicate JSON keys are refused, so a typo cannot quietly
  widen a rule.
- An empty list, an empty string in a list, or a ``*`` in a ``tagPrefixList``
  (a tag can never contain one) is refused, because such a rule could never
  select what its author meant.

Every error is a `RequestInvalid` whose message names the rule (by ``rulePriority``,
or by position when the priority itself is bad) and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Any, TypeVar

from cargohold.errors import RequestInvalid

MIN_POLICY_TEXT = 100
MAX_POLICY_TEXT = 30_720
MAX_WILDCARDS = 4
DAYS = "days"
EXPIRE = "expire"


class TagStatus(StrEnum):
    TAGGED = "tagged"
    UNTAGGED = "untagged"
    ANY = "any"


class CountType(StrEnum):
    IMAGE_COUNT_MORE_THAN = "imageCountMoreThan"
    SINCE_IMAGE_PUSHED = "sinceImagePushed"
    SINCE_IMAGE_PULLED = "sinceImagePulled"


_RULE_FIELDS = ("rulePriority", "description", "selection", "action")
_SELECTION_FIELDS = (
    "tagStatus",
    "tagPatternList",
    "tagPrefixList",
    "storageClass",
    "countType",
    "countUnit",
    "countNumber",
)
_ACTION_FIELDS = ("type", "targetStorageClass")
_NO_ARCHIVE = "Cargohold has no archive storage class"
_E = TypeVar("_E", bound=StrEnum)


def _fail(where: str, message: str) -> RequestInvalid:
    prefix = f"lifecycle policy {where}" if where else "lifecycle policy"
    return RequestInvalid(f"{prefix}: {message}")


def _show(value: Any) -> str:
    """A JSON value as the user wrote it, cut short if it is long."""
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def match_tag_pattern(pattern: str, tag: str) -> bool:
    """Whether ``tag`` matches a ``tagPatternList`` entry as a whole.

    ``*`` stands for any run of characters, including none; every other character
    stands for itself. The literal pieces between stars must appear in order, the
    first at the start of the tag and the last at its end, without overlapping, so
    taking the leftmost place for each middle piece is enough.
    """
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return tag == pattern
    first, *middle, last = pieces
    if len(tag) < len(first) + len(last) or not tag.startswith(first) or not tag.endswith(last):
        return False
    position, end = len(first), len(tag) - len(last)
    for piece in middle:
        found = tag.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


@dataclass(frozen=True, slots=True)
class Selection:
    """Which images a rule looks at, and which of those it marks.

    At most one of the two tag lists is set, and only when ``tag_status`` is
    ``tagged``; `LifecycleRule` checks that, so its messages can name the rule.
    """

    tag_status: TagStatus
    count_type: CountType
    count_number: int
    tag_prefix_list: tuple[str, ...] = ()
    tag_pattern_list: tuple[str, ...] = ()

    @property
    def count_unit(self) -> str | None:
        """``days`` for the age count types, nothing for ``imageCountMoreThan``."""
        return None if self.count_type == CountType.IMAGE_COUNT_MORE_THAN else DAYS

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tagStatus": str(self.tag_status)}
        if self.tag_prefix_list:
            out["tagPrefixList"] = list(self.tag_prefix_list)
        if self.tag_pattern_list:
            out["tagPatternList"] = list(self.tag_pattern_list)
        out["countType"] = str(self.count_type)
        if self.count_unit is not None:
            out["countUnit"] = self.count_unit
        out["countNumber"] = self.count_number
        return out


@dataclass(frozen=True, slots=True)
class LifecycleRule:
    """One rule; its action is always ``expire``.

    Raises `RequestInvalid` when the rule breaks one of ECR's per-rule constraints.
    """

    rule_priority: int
    selection: Selection
    description: str | None = None

    def __post_init__(self) -> None:
        where = f"rule {self.rule_priority}"
        if not _is_int(self.rule_priority) or self.rule_priority < 1:
            raise _fail(where, "rulePriority must be a positive integer")
        sel = self.selection
        if not _is_int(sel.count_number) or sel.count_number < 1:
            raise _fail(
                where, "selection.countNumber must be a positive integer (0 is not allowed)"
            )
        prefixes, patterns = sel.tag_prefix_list, sel.tag_pattern_list
        if sel.tag_status == TagStatus.TAGGED:
            if not prefixes and not patterns:
                raise _fail(
                    where,
                    'tagStatus "tagged" needs a selection.tagPatternList or a '
                    "selection.tagPrefixList naming the tags to select",
                )
            if prefixes and patterns:
                raise _fail(
                    where,
                    "selection may have a tagPatternList or a tagPrefixList, not both; "
                    "split it into two rules",
                )
        elif prefixes or patterns:
            field = "tagPrefixList" if prefixes else "tagPatternList"
            raise _fail(
                where,
                f'selection.{field} is only allowed with tagStatus "tagged", '
                f'not "{sel.tag_status}"; remove it or set tagStatus to "tagged"',
            )
        for pattern in patterns:
            if pattern.count("*") > MAX_WILDCARDS:
                raise _fail(
                    where,
                    f"selection.tagPatternList entry {_show(pattern)} has "
                    f"{pattern.count('*')} wildcards; at most {MAX_WILDCARDS} are allowed",
                )
        for prefix in prefixes:
            if "*" in prefix:
                raise _fail(
                    where,
                    f"selection.tagPrefixList entry {_show(prefix)} contains '*', which no tag "
                    "can contain; use selection.tagPatternList for wildcards",
                )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rulePriority": self.rule_priority}
        if self.description is not None:
            out["description"] = self.description
        out["selection"] = self.selection.to_dict()
        out["action"] = {"type": EXPIRE}
        return out


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """A validated policy; ``rules`` are kept in the order they apply (lowest
    ``rulePriority`` first).

    Raises `RequestInvalid` when the rules break one of ECR's policy-wide constraints.
    """

    rules: tuple[LifecycleRule, ...]

    def __post_init__(self) -> None:
        rules = tuple(sorted(self.rules, key=lambda rule: rule.rule_priority))
        object.__setattr__(self, "rules", rules)
        if not rules:
            raise _fail("", '"rules" must contain at least one rule')
        _check_rules(rules)

    @classmethod
    def from_json(cls, text: str) -> LifecyclePolicy:
        """Parse and validate policy text as ``PutLifecyclePolicy`` receives it."""
        return parse_policy(text)

    def to_json(self) -> str:
        """The canonical policy text: compact, rules by priority, fields in the
        order of ECR's template, defaults (``storageClass``) left out."""
        document = {"rules": [rule.to_dict() for rule in self.rules]}
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _check_rules(rules: tuple[LifecycleRule, ...]) -> None:
    """The constraints that span rules; ``rules`` are sorted by priority."""
    for before, after in pairwise(rules):
        if before.rule_priority == after.rule_priority:
            raise _fail(
                "",
                f"two rules have rulePriority {after.rule_priority}; each rule needs its own",
            )
    last = rules[-1]
    for rule in rules[:-1]:
        if rule.selection.tag_status == TagStatus.ANY:
            raise _fail(
                f"rule {rule.rule_priority}",
                'a rule with tagStatus "any" must have the highest rulePriority, but rule '
                f"{last.rule_priority} comes after it; renumber the rules so it is last",
            )
    untagged = [r.rule_priority for r in rules if r.selection.tag_status == TagStatus.UNTAGGED]
    if len(untagged) > 1:
        raise _fail(
            "",
            f'rules {untagged[0]} and {untagged[1]} both have tagStatus "untagged"; only one '
            "rule may select untagged images",
        )
    # "The set of rules must contain a unique set of tag prefixes." A second rule
    # with the same list could never expire anything: every image it selects
    # matches the earlier rule's tags, and so belongs to it.
    seen: dict[tuple[str, frozenset[str]], int] = {}
    for rule in rules:
        sel = rule.selection
        for field, values in (
            ("tagPrefixList", sel.tag_prefix_list),
            ("tagPatternList", sel.tag_pattern_list),
        ):
            if not values:
                continue
            key = (field, frozenset(values))
            if key in seen:
                raise _fail(
                    f"rule {rule.rule_priority}",
                    f"selection.{field} {_show(sorted(set(values)))} is the same as rule "
                    f"{seen[key]}'s, so this rule could never expire an image; "
                    "each rule needs a different set",
                )
            seen[key] = rule.rule_priority


def parse_policy(text: str) -> LifecyclePolicy:
    """Parse and validate lifecycle policy text; raises `RequestInvalid`."""
    if not isinstance(text, str):
        raise _fail("", "the policy text must be a string")
    if not MIN_POLICY_TEXT <= len(text) <= MAX_POLICY_TEXT:
        raise _fail(
            "",
            f"the policy text must be {MIN_POLICY_TEXT} to {MAX_POLICY_TEXT} characters "
            f"long, not {len(text)}",
        )
    try:
        document = json.loads(text, object_pairs_hook=_object_without_duplicates)
    except json.JSONDecodeError as exc:
        raise _fail(
            "",
            f"the policy text is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
        ) from None
    except ValueError as exc:  # numbers past Python's digit limit, for one
        raise _fail("", f"the policy text is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _fail("", 'the policy must be a JSON object with a "rules" list')
    _refuse_unknown(document, ("rules",), "", "")
    if "rules" not in document:
        raise _fail("", 'the "rules" field is required')
    rules = document["rules"]
    if not isinstance(rules, list):
        raise _fail("", '"rules" must be a list of rule objects')
    return LifecyclePolicy(tuple(_parse_rule(value, index) for index, value in enumerate(rules)))


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _fail("", f"the field {_show(key)} appears twice in one object")
        out[key] = value
    return out


def _refuse_unknown(obj: dict[str, Any], known: Iterable[str], where: str, path: str) -> None:
    allowed = tuple(known)
    for key in obj:
        if key not in allowed:
            raise _fail(
                where,
                f"unknown field {_show(path + key)}; the fields allowed here are "
                + ", ".join(path + name for name in allowed),
            )


def _parse_rule(value: Any, index: int) -> LifecycleRule:
    where = f"rules[{index}]"
    if not isinstance(value, dict):
        raise _fail(where, "each rule must be a JSON object")
    if "rulePriority" not in value:
        raise _fail(where, "rulePriority is required")
    priority = value["rulePriority"]
    if not _is_int(priority) or priority < 1:
        raise _fail(where, f"rulePriority must be a positive integer, not {_show(priority)}")
    where = f"rule {priority}"
    _refuse_unknown(value, _RULE_FIELDS, where, "")
    description = value.get("description")
    if "description" in value and not isinstance(description, str):
        raise _fail(where, "description must be a string; leave it out to have none")
    if "selection" not in value:
        raise _fail(where, "selection is required")
    selection = _parse_selection(value["selection"], where)
    if "action" not in value:
        raise _fail(where, 'action is required; use {"type": "expire"}')
    _parse_action(value["action"], where)
    return LifecycleRule(priority, selection, description)


def _parse_selection(value: Any, where: str) -> Selection:
    if not isinstance(value, dict):
        raise _fail(where, "selection must be a JSON object")
    _refuse_unknown(value, _SELECTION_FIELDS, where, "selection.")

    if "storageClass" in value:
        storage_class = value["storageClass"]
        if storage_class == "archive":
            raise _fail(where, f'selection.storageClass "archive" is not supported: {_NO_ARCHIVE}')
        if storage_class != "standard":
            raise _fail(
                where,
                f'selection.storageClass must be "standard", not {_show(storage_class)}',
            )

    tag_status = _choice(value, "tagStatus", TagStatus, where)

    raw_count_type = value.get("countType")
    if raw_count_type == "sinceImageTransitioned":
        raise _fail(
            where,
            f'selection.countType "sinceImageTransitioned" is not supported: {_NO_ARCHIVE}; '
            "use sinceImagePushed or sinceImagePulled",
        )
    count_type = _choice(value, "countType", CountType, where)

    if count_type == CountType.IMAGE_COUNT_MORE_THAN:
        if "countUnit" in value:
            raise _fail(
                where, "selection.countUnit must be left out when countType is imageCountMoreThan"
            )
    elif "countUnit" not in value:
        raise _fail(
            where,
            f'selection.countUnit is required when countType is {count_type}; set it to "days"',
        )
    elif value["countUnit"] != DAYS:
        raise _fail(where, f'selection.countUnit must be "days", not {_show(value["countUnit"])}')

    if "countNumber" not in value:
        raise _fail(where, "selection.countNumber is required")
    count_number = value["countNumber"]
    if not _is_int(count_number) or count_number < 1:
        raise _fail(
            where,
            f"selection.countNumber must be a positive integer (0 is not allowed), "
            f"not {_show(count_number)}",
        )

    return Selection(
        tag_status=tag_status,
        count_type=count_type,
        count_number=count_number,
        tag_prefix_list=_tag_list(value, "tagPrefixList", where),
        tag_pattern_list=_tag_list(value, "tagPatternList", where),
    )


def _choice(value: dict[str, Any], name: str, kind: type[_E], where: str) -> _E:
    choices = ", ".join(f'"{member}"' for member in kind)
    if name not in value:
        raise _fail(where, f"selection.{name} is required; use one of {choices}")
    raw = value[name]
    for member in kind:
        if raw == member.value and isinstance(raw, str):
            return member
    raise _fail(where, f"selection.{name} must be one of {choices}, not {_show(raw)}")


def _tag_list(value: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    if name not in value:
        return ()
    items = value[name]
    if not isinstance(items, list) or not items:
        raise _fail(where, f"selection.{name} must be a non-empty list of strings")
    for item in items:
        if not isinstance(item, str) or not item:
            raise _fail(
                where,
                f"selection.{name} entries must be non-empty strings, not {_show(item)}",
            )
    return tuple(items)


def _parse_action(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _fail(where, 'action must be a JSON object such as {"type": "expire"}')
    _refuse_unknown(value, _ACTION_FIELDS, where, "action.")
    if "type" not in value:
        raise _fail(where, 'action.type is required; use "expire"')
    kind = value["type"]
    if kind == "transition":
        raise _fail(
            where,
            f'action.type "transition" is not supported: {_NO_ARCHIVE}; only "expire" is. '
            "To remove images nobody pulls, expire them with countType sinceImagePulled",
        )
    if kind != EXPIRE:
        raise _fail(where, f'action.type must be "expire", not {_show(kind)}')
    if "targetStorageClass" in value:
        raise _fail(
            where,
            'action.targetStorageClass only goes with action.type "transition", which '
            f"is not supported ({_NO_ARCHIVE}); remove it",
        )
