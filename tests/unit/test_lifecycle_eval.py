"""Which images a lifecycle policy expires (`cargohold.core.lifecycle.evaluate`).

The first table reproduces the worked examples from AWS's "Examples of lifecycle
policies in Amazon ECR" page. Each one is given in both wordings the page has used:
``tagPrefixList`` in earlier versions, and ``tagPatternList`` now. The second table
covers edge cases the page does not spell out.

Images are named by letter. A letter's digest sorts in letter order, so where push
times tie the later letter counts as the newer image.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cargohold.core.lifecycle import Expiry, ImageInfo, evaluate, selects
from cargohold.formats.lifecycle import (
    CountType,
    LifecyclePolicy,
    Selection,
    TagStatus,
    parse_policy,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def digest(name: str) -> str:
    return "sha256:" + "".join(f"{ord(c):02x}" for c in name).rjust(64, "0")


def image(
    name: str,
    tags: list[str],
    days_ago: float,
    pulled_days_ago: float | None = None,
) -> ImageInfo:
    pulled = None if pulled_days_ago is None else NOW - timedelta(days=pulled_days_ago)
    return ImageInfo(digest(name), tuple(tags), NOW - timedelta(days=days_ago), pulled)


def rule(priority: int, **selection: Any) -> dict[str, Any]:
    names = {"status": "tagStatus", "prefixes": "tagPrefixList", "patterns": "tagPatternList"}
    body: dict[str, Any] = {names.get(key, key): value for key, value in selection.items()}
    body.setdefault("tagStatus", "tagged")
    return {
        "rulePriority": priority,
        "description": f"Rule {priority}",
        "selection": body,
        "action": {"type": "expire"},
    }


def keep(n: int) -> dict[str, Any]:
    return {"countType": "imageCountMoreThan", "countNumber": n}


def older(days: int, since: str = "sinceImagePushed") -> dict[str, Any]:
    return {"countType": since, "countUnit": "days", "countNumber": days}


def policy(*rules: dict[str, Any]) -> LifecyclePolicy:
    return parse_policy(json.dumps({"rules": list(rules)}, indent=2))


def run(p: LifecyclePolicy, images: list[ImageInfo]) -> list[tuple[str, int]]:
    """The expired images as (letter, rule priority), in the order returned."""
    names = {i.digest: _name(i.digest) for i in images}
    return [(names[e.digest], e.rule_priority) for e in evaluate(p, images, NOW)]


def _name(d: str) -> str:
    return bytes.fromhex(d.removeprefix("sha256:").lstrip("0")).decode()


# "Filtering on multiple rules" and "multiple tags in a single rule" share these.
MULTI_RULE_IMAGES = [
    image("A", ["beta-1", "prod-1"], 10),
    image("B", ["beta-2", "prod-2"], 9),
    image("C", ["beta-3"], 8),
]
MULTI_TAG_IMAGES = [
    image("A", ["alpha-1"], 12),
    image("B", ["beta-1"], 11),
    image("C", ["alpha-2", "beta-2"], 10),
    image("D", ["alpha-3"], 4),
    image("E", ["beta-3"], 3),
    image("F", ["alpha-4", "beta-4"], 2),
]
NOT_EXCLUSIVE_IMAGES = [
    image("A", ["alpha-1", "beta-1", "gamma-1"], 10),
    image("B", ["alpha-2", "beta-2"], 9),
    image("C", ["alpha-3", "beta-3", "gamma-2"], 8),
]
ALL_IMAGES_A = [
    image("A", ["alpha-1"], 4),
    image("B", ["beta-1"], 3),
    image("C", [], 2),
    image("D", ["alpha-2"], 1),
]
# D and E were both "pushed 1 day ago"; the page has rule 3 keep E and expire D,
# which the digest tie-break reproduces (E's digest is the larger).
ALL_IMAGES_B = [
    image("A", ["alpha-1", "beta-1"], 4),
    image("B", [], 3),
    image("C", ["alpha-2"], 2),
    image("D", ["git hash"], 1),
    image("E", [], 1),
]


def by_prefix(*stems: str) -> dict[str, Any]:
    return {"prefixes": list(stems)}


def by_pattern(*stems: str) -> dict[str, Any]:
    return {"patterns": [stem + "*" for stem in stems]}


DOCUMENTED: dict[str, tuple[LifecyclePolicy, list[ImageInfo], list[tuple[str, int]]]] = {}
for wording, tag_kwargs in (("prefixes", by_prefix), ("patterns", by_pattern)):
    DOCUMENTED |= {
        # Rule 1 marks A. Rule 2 would mark A and B, but both matched rule 1's tags.
        f"multiple rules, example A ({wording})": (
            policy(
                rule(1, **tag_kwargs("prod"), **keep(1)), rule(2, **tag_kwargs("beta"), **keep(1))
            ),
            MULTI_RULE_IMAGES,
            [("A", 1)],
        ),
        # Rule 1 marks A and B; rule 2 sees nothing that rule 1 did not.
        f"multiple rules, example B ({wording})": (
            policy(
                rule(1, **tag_kwargs("beta"), **keep(1)), rule(2, **tag_kwargs("prod"), **keep(1))
            ),
            MULTI_RULE_IMAGES,
            [("A", 1), ("B", 1)],
        ),
        # Only C and F carry both; of those only C is older than five days.
        f"multiple tags in a single rule, example A ({wording})": (
            policy(rule(1, **tag_kwargs("alpha", "beta"), **older(5))),
            MULTI_TAG_IMAGES,
            [("C", 1)],
        ),
        # Tags are not exclusive: all three carry alpha and beta; the newest is kept.
        f"multiple tags in a single rule, example B ({wording})": (
            policy(rule(1, **tag_kwargs("alpha", "beta"), **keep(1))),
            NOT_EXCLUSIVE_IMAGES,
            [("A", 1), ("B", 1)],
        ),
        # Rule 1 marks A; rule 2 marks B (E is exactly one day old, not older); rule 3
        # sees all five but A, B, C and E belong to the higher rules, so it takes D.
        f"all images, example B ({wording})": (
            policy(
                rule(1, **tag_kwargs("alpha"), **keep(1)),
                rule(2, status="untagged", **older(1)),
                rule(3, status="any", **keep(1)),
            ),
            ALL_IMAGES_B,
            [("A", 1), ("B", 2), ("D", 3)],
        ),
    }

DOCUMENTED |= {
    "filtering on image age (untagged, 14 days)": (
        policy(rule(1, status="untagged", **older(14))),
        [
            image("A", [], 30),
            image("B", [], 14.5),
            image("C", [], 14),
            image("D", [], 2),
            image("E", ["v1"], 40),
        ],
        [("A", 1), ("B", 1)],
    ),
    "filtering on image age (prod*, 14 days)": (
        policy(rule(1, patterns=["prod*"], **older(14))),
        [
            image("A", ["prod"], 20),
            image("B", ["production-team1"], 15),
            image("C", ["preprod"], 20),
            image("D", ["prod2"], 3),
            image("E", [], 90),
        ],
        [("A", 1), ("B", 1)],
    ),
    "filtering on image count (keep one untagged)": (
        policy(rule(1, status="untagged", **keep(1))),
        [image("A", [], 3), image("B", ["latest"], 5), image("C", [], 1), image("D", [], 2)],
        [("A", 1), ("D", 1)],
    ),
    "all images, example A": (
        policy(rule(1, status="any", **keep(1))),
        ALL_IMAGES_A,
        [("A", 1), ("B", 1), ("C", 1)],
    ),
}


@pytest.mark.parametrize(("p", "images", "expected"), DOCUMENTED.values(), ids=DOCUMENTED.keys())
def test_documented_examples(
    p: LifecyclePolicy, images: list[ImageInfo], expected: list[tuple[str, int]]
) -> None:
    assert run(p, images) == expected


EDGE: dict[str, tuple[LifecyclePolicy, list[ImageInfo], list[tuple[str, int]]]] = {
    "nothing to evaluate": (policy(rule(1, status="any", **keep(1))), [], []),
    "fewer images than the count": (
        policy(rule(1, status="any", **keep(5))),
        [image("A", ["a"], 3), image("B", [], 2)],
        [],
    ),
    # One digest with several tags is one image: it is counted once, and the rule
    # matching any of its tags claims it.
    "several tags on one digest": (
        policy(
            rule(1, patterns=["latest"], **keep(1)),
            rule(2, prefixes=["v1."], **keep(1)),
        ),
        [
            image("A", ["v1.0"], 5),
            image("B", ["v1.1", "latest"], 4),
            image("C", ["v1.2"], 3),
        ],
        # Rule 2 keeps C and would expire A and B; B carries "latest", rule 1's tag.
        [("A", 2)],
    ),
    "one tag satisfies two prefixes": (
        policy(rule(1, prefixes=["prod", "production"], **keep(1))),
        [
            image("A", ["production-1"], 3),
            image("B", ["production-2"], 2),
            image("C", ["prod-3"], 1),
        ],
        [("A", 1)],
    ),
    "every pattern must match some tag": (
        policy(rule(1, patterns=["*-amd64", "v*"], **older(1))),
        [
            image("A", ["v1-amd64"], 5),
            image("B", ["v2", "nightly-amd64"], 5),
            image("C", ["nightly-amd64"], 5),
            image("D", ["v3"], 5),
        ],
        [("A", 1), ("B", 1)],
    ),
    "patterns match whole tags": (
        policy(rule(1, patterns=["prod"], **older(1))),
        [image("A", ["prod"], 5), image("B", ["prod1"], 5), image("C", ["preprod"], 5)],
        [("A", 1)],
    ),
    # Both rules would expire A; the first takes it, and the second cannot take it again.
    "an image matching several rules is expired once, by the first": (
        policy(
            rule(1, patterns=["*"], **older(30)),
            rule(2, status="any", **older(10)),
        ),
        [image("A", ["x"], 40), image("B", [], 20), image("C", ["y"], 20)],
        [("A", 1), ("B", 2)],
    ),
    # Rule 1 keeps all three prod images; the any rule counts them as well, keeps
    # the two newest images overall and can take only the untagged ones.
    "the any rule last sees everything": (
        policy(
            rule(1, prefixes=["prod"], **keep(5)),
            rule(2, status="any", **keep(2)),
        ),
        [
            image("A", [], 9),
            image("B", [], 8),
            image("C", ["prod-1"], 3),
            image("D", ["prod-2"], 2),
            image("E", ["prod-3"], 1),
        ],
        [("A", 2), ("B", 2)],
    ),
    # A marked image still counts for a later rule: rule 2 sees A (marked by rule 1)
    # as one of its three newest, so only B, the fourth, is beyond its count.
    "marked images still count for later rules": (
        policy(
            rule(1, prefixes=["tmp"], **older(1)),
            rule(2, status="any", **keep(3)),
        ),
        [
            image("A", ["tmp-1"], 2),
            image("B", [], 9),
            image("C", [], 1.5),
            image("D", [], 0.5),
        ],
        [("A", 1), ("B", 2)],
    ),
    "untagged rules ignore tagged images, tagged rules ignore untagged ones": (
        policy(
            rule(1, status="untagged", **keep(1)),
            rule(2, patterns=["*"], **keep(1)),
        ),
        [
            image("A", [], 4),
            image("B", ["a"], 3),
            image("C", [], 2),
            image("D", ["b"], 1),
        ],
        [("A", 1), ("B", 2)],
    ),
    "an image exactly N days old is kept": (
        policy(rule(1, status="any", **older(7))),
        [image("A", [], 7), image("B", [], 7 + 1 / 86400)],
        [("B", 1)],
    ),
    # Equal push times: the smaller digest counts as older and goes first.
    "count ties are broken by digest": (
        policy(rule(1, status="any", **keep(1))),
        [image("C", [], 1), image("A", [], 1), image("B", [], 1)],
        [("A", 1), ("B", 1)],
    ),
    "ties keep the larger digest whatever the input order": (
        policy(rule(1, status="any", **keep(2))),
        [image("B", [], 1), image("A", [], 1), image("D", [], 5), image("C", [], 1)],
        [("D", 1), ("A", 1)],
    ),
    # An image never pulled is measured from its push.
    "sinceImagePulled": (
        policy(rule(1, status="any", **older(90, "sinceImagePulled"))),
        [
            image("A", [], 100),  # never pulled, pushed long ago
            image("B", ["v1"], 100, pulled_days_ago=1),  # old but in use
            image("C", [], 10),  # never pulled, but new
            image("D", ["v2"], 200, pulled_days_ago=91),  # last pulled too long ago
            image("E", [], 90),  # never pulled, exactly 90 days: kept
        ],
        [("D", 1), ("A", 1)],
    ),
    "sinceImagePulled claims like any other rule": (
        policy(
            rule(1, prefixes=["release"], **older(30, "sinceImagePulled")),
            rule(2, status="any", **older(60)),
        ),
        [
            image("A", ["release-1"], 365, pulled_days_ago=2),
            image("B", ["release-0"], 400),
            image("C", ["dev"], 61),
        ],
        [("B", 1), ("C", 2)],
    ),
    "a limit reaching before year 1 expires nothing": (
        policy(rule(1, status="any", **older(10**10))),
        [image("A", [], 10_000)],
        [],
    ),
    "a limit reaching before year 1 by subtraction": (
        policy(rule(1, status="any", **older(999_999))),
        [image("A", [], 10_000)],
        [],
    ),
    "a long but representable limit": (
        policy(rule(1, status="any", **older(700_000))),
        [image("A", [], 10_000)],
        [],
    ),
    "results are ordered by priority, then push time": (
        policy(
            rule(5, patterns=["b*"], **older(1)),
            rule(9, status="untagged", **older(1)),
            rule(12, status="any", **keep(1)),
        ),
        [
            image("A", [], 2),
            image("B", ["b1"], 3),
            image("C", ["c1"], 8),
            image("D", [], 9),
            image("E", ["b2"], 5),
            image("F", ["c2"], 4),
            image("G", ["z"], 0.1),
        ],
        [("E", 5), ("B", 5), ("D", 9), ("A", 9), ("C", 12), ("F", 12)],
    ),
}


@pytest.mark.parametrize(("p", "images", "expected"), EDGE.values(), ids=EDGE.keys())
def test_edge_cases(
    p: LifecyclePolicy, images: list[ImageInfo], expected: list[tuple[str, int]]
) -> None:
    assert run(p, images) == expected


def test_expiry_carries_the_image_and_the_rule() -> None:
    a = image("A", ["beta-1", "prod-1"], 10)
    p = policy(rule(1, prefixes=["prod"], **keep(1)), rule(2, status="any", **keep(1)))
    assert evaluate(p, [a, image("B", ["prod-2"], 9)], NOW) == [
        Expiry(a.digest, ("beta-1", "prod-1"), a.pushed_at, 1, "Rule 1")
    ]


def test_description_may_be_absent() -> None:
    p = parse_policy(
        json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "selection": {
                            "tagStatus": "untagged",
                            "countType": "imageCountMoreThan",
                            "countNumber": 1,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        )
    )
    (expiry,) = evaluate(p, [image("A", [], 2), image("B", [], 1)], NOW)
    assert (expiry.digest, expiry.description) == (digest("A"), None)


def test_images_may_be_any_iterable() -> None:
    p = policy(rule(1, status="any", **keep(1)))
    images = (i for i in [image("A", [], 2), image("B", [], 1)])
    assert [e.digest for e in evaluate(p, images, NOW)] == [digest("A")]


def test_a_repeated_digest_is_refused() -> None:
    p = policy(rule(1, status="any", **keep(1)))
    with pytest.raises(ValueError, match="each image must appear once"):
        evaluate(p, [image("A", ["x"], 2), image("A", ["y"], 2)], NOW)


@pytest.mark.parametrize(
    ("selection", "tags", "expected"),
    [
        (Selection(TagStatus.ANY, CountType.IMAGE_COUNT_MORE_THAN, 1), (), True),
        (Selection(TagStatus.ANY, CountType.IMAGE_COUNT_MORE_THAN, 1), ("a",), True),
        (Selection(TagStatus.UNTAGGED, CountType.IMAGE_COUNT_MORE_THAN, 1), (), True),
        (Selection(TagStatus.UNTAGGED, CountType.IMAGE_COUNT_MORE_THAN, 1), ("a",), False),
        (Selection(TagStatus.TAGGED, CountType.IMAGE_COUNT_MORE_THAN, 1, ("a",)), (), False),
        (Selection(TagStatus.TAGGED, CountType.IMAGE_COUNT_MORE_THAN, 1, ("a",)), ("ab",), True),
        (
            Selection(TagStatus.TAGGED, CountType.IMAGE_COUNT_MORE_THAN, 1, ("a", "b")),
            ("ab",),
            False,
        ),
        (
            Selection(TagStatus.TAGGED, CountType.IMAGE_COUNT_MORE_THAN, 1, ("a", "b")),
            ("ab", "ba"),
            True,
        ),
        (Selection(TagStatus.TAGGED, CountType.IMAGE_COUNT_MORE_THAN, 1, (), ("*",)), (), False),
        (Selection(TagStatus.TAGGED, CountType.IMAGE_COUNT_MORE_THAN, 1, (), ("*",)), ("x",), True),
    ],
)
def test_selects(selection: Selection, tags: tuple[str, ...], expected: bool) -> None:
    assert selects(selection, tags) is expected
