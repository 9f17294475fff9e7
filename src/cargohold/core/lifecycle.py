"""Which images a lifecycle policy expires, by Amazon ECR's evaluation rules. No I/O.

`evaluate` takes a parsed `LifecyclePolicy`, the repository's images and the
current time, and returns the images to expire. It deletes nothing; the caller
does that, and decides what else must hold first (ECR, for one, never expires an
image that a manifest list still references: that needs the repository's graph,
which `ImageInfo` does not carry).

The rules come from the AWS user guide, "Lifecycle policy evaluation rules"
(LifecyclePolicies.md) and the worked examples in lifecycle_policy_examples.md:

- All rules are evaluated at the same time, then applied by priority, lowest
  ``rulePriority`` first. An image is expired by one rule or by none.
- Each rule *sees* every image its tag selection matches, including images that a
  higher-priority rule has already marked. So ``imageCountMoreThan`` counts them.
- An image that matches the tag selection of a rule can never be expired by a
  lower-priority rule, even if the higher rule kept it ("Example A": rule 2 would
  mark B, but B matched rule 1's ``prod`` tags, so it is skipped).
- ``tagPrefixList`` / ``tagPatternList``: every entry must match at least one of
  the image's tags. One tag may satisfy several entries ("tags are not exclusive").
  ``untagged`` selects images with no tags and ``any`` selects all images.
- ``imageCountMoreThan`` sorts the selected images newest first by push time and
  marks all past the first ``countNumber``. ``sinceImagePushed`` and
  ``sinceImagePulled`` mark images older than ``countNumber`` days. An image exactly
  ``countNumber`` days old is not "older than", and is kept.

Ties: when push times are equal, the image with the smaller digest counts as the
older one. It goes first, and it is the one an ``imageCountMoreThan`` rule expires.
ECR documents no tie-break. This one makes repeated runs agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cargohold.formats.lifecycle import (
    CountType,
    LifecyclePolicy,
    Selection,
    TagStatus,
    match_tag_pattern,
)


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the evaluator needs to know about one image (one manifest digest).

    The datetimes must be comparable with each other and with ``now``: all aware,
    preferably in UTC. ``last_pulled_at`` is None for an image that was never pulled.
    """

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    last_pulled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Expiry:
    """One image the policy expires, and the rule that expires it."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    rule_priority: int
    description: str | None


def selects(selection: Selection, tags: Sequence[str]) -> bool:
    """Whether a rule's tag selection matches an image with these tags."""
    if selection.tag_status == TagStatus.ANY:
        return True
    if selection.tag_status == TagStatus.UNTAGGED:
        return not tags
    if not tags:
        return False
    if selection.tag_prefix_list:
        return all(
            any(tag.startswith(prefix) for tag in tags) for prefix in selection.tag_prefix_list
        )
    return all(
        any(match_tag_pattern(pattern, tag) for tag in tags)
        for pattern in selection.tag_pattern_list
    )


def evaluate(policy: LifecyclePolicy, images: Iterable[ImageInfo], now: datetime) -> list[Expiry]:
    """The images ``policy`` expires at ``now``.

    The result is sorted by rule priority, then push time (oldest first), then digest.
    It raises ValueError if two entries in ``images`` share a digest: the caller must
    give each image once, with all its tags. This function has no side effects.
    """
    pool = tuple(images)
    digests = {image.digest for image in pool}
    if len(digests) != len(pool):
        raise ValueError("each image must appear once; merge the tags of a repeated digest")

    # Digests that matched the tag selection of a rule already applied. No later
    # rule may expire them, whether that rule expired them or kept them.
    claimed: set[str] = set()
    expiries: list[Expiry] = []
    for rule in policy.rules:
        seen = [image for image in pool if selects(rule.selection, image.tags)]
        for image in _marked(rule.selection, seen, now):
            if image.digest not in claimed:
                expiries.append(
                    Expiry(
                        digest=image.digest,
                        tags=image.tags,
                        pushed_at=image.pushed_at,
                        rule_priority=rule.rule_priority,
                        description=rule.description,
                    )
                )
        claimed.update(image.digest for image in seen)
    expiries.sort(key=lambda e: (e.rule_priority, e.pushed_at, e.digest))
    return expiries


def _marked(selection: Selection, seen: list[ImageInfo], now: datetime) -> list[ImageInfo]:
    """The images one rule marks among those it sees, ignoring the other rules."""
    if selection.count_type == CountType.IMAGE_COUNT_MORE_THAN:
        newest_first = sorted(seen, key=_push_order, reverse=True)
        return newest_first[selection.count_number :]
    try:
        cutoff = now - timedelta(days=selection.count_number)
    except OverflowError:
        return []  # a limit reaching before year 1: no image is that old
    if selection.count_type == CountType.SINCE_IMAGE_PUSHED:
        return [image for image in seen if image.pushed_at < cutoff]
    # sinceImagePulled: "all images whose last_recorded_pulltime is older than the
    # specified number of days ... If an image was never pulled, the image's
    # pushed_at_time is used instead of the last_recorded_pulltime."
    # (AWS user guide, LifecyclePolicies.md, "Lifecycle policy evaluation rules".)
    return [image for image in seen if _last_used(image) < cutoff]


def _push_order(image: ImageInfo) -> tuple[datetime, str]:
    return image.pushed_at, image.digest


def _last_used(image: ImageInfo) -> datetime:
    return image.pushed_at if image.last_pulled_at is None else image.last_pulled_at
