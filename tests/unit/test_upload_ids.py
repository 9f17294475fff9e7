"""Upload ids are issued by the registry for one repository: nothing is stored when an
upload opens, so the id alone must keep one repository from continuing, probing or
cancelling another's upload, and keep anyone from naming an upload never opened."""

from __future__ import annotations

import time

import pytest

from cargohold.core.uploads import UploadIds
from cargohold.storage import layout


def test_an_id_belongs_to_the_repository_it_was_issued_for() -> None:
    ids = UploadIds()
    upload_id = ids.issue("team/app")
    assert layout.valid_upload_id(upload_id)
    assert ids.authentic("team/app", upload_id)
    assert not ids.authentic("team/other", upload_id)
    assert not ids.authentic("team/app/", upload_id)


def test_ids_are_unique() -> None:
    ids = UploadIds()
    assert len({ids.issue("team/app") for _ in range(1000)}) == 1000


def test_only_the_key_holder_can_issue() -> None:
    ours, theirs = UploadIds(b"k" * 32), UploadIds(b"x" * 32)
    forged = theirs.issue("team/app")
    assert not ours.authentic("team/app", forged)
    # Every worker and replica derives the same key, so each honours the others' ids.
    assert UploadIds(b"k" * 32).authentic("team/app", ours.issue("team/app"))


def test_a_tampered_id_is_refused() -> None:
    ids = UploadIds()
    nonce, issued, mac = ids.issue("team/app").split("-")
    flipped = "0" if mac[0] != "0" else "1"
    assert not ids.authentic("team/app", f"{nonce}-{issued}-{flipped}{mac[1:]}")
    # Moving the time of issue forward breaks the hash too.
    later = f"{int(issued, 16) + 3600:08x}"
    assert not ids.authentic("team/app", f"{nonce}-{later}-{mac}")
    # Reusing another repository's hash with the same nonce does not help either.
    other_mac = ids.issue("team/other").split("-")[2]
    assert not ids.authentic("team/other", f"{nonce}-{issued}-{other_mac}")
    assert not ids.authentic("team/app", f"{nonce}-{issued}-{mac}-{mac}")


def test_an_id_is_fresh_for_its_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = UploadIds(lifetime=3600)
    upload_id = ids.issue("team/app")
    assert ids.fresh(upload_id)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3601)
    assert not ids.fresh(upload_id)
    assert ids.authentic("team/app", upload_id)  # still ours: just too old


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "nope",
        "123e4567-e89b-12d3-a456-426614174000",
        "../../x",
        "a" * 32,
        "a" * 32 + "-",
        "a" * 32 + "-" + "b" * 16,  # the shape before ids carried their time
    ],
)
def test_other_shapes_are_refused(bad: str) -> None:
    assert not UploadIds().authentic("team/app", bad)
