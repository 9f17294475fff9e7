"""Upload ids carry their repository: the binding is what keeps one repository
from continuing, probing or cancelling another's upload."""

from __future__ import annotations

import pytest

from cargohold.core.uploads import belongs_to, upload_id_for
from cargohold.storage import layout


def test_an_id_belongs_to_the_repository_it_was_made_for() -> None:
    upload_id = upload_id_for("team/app")
    assert layout.valid_upload_id(upload_id)
    assert belongs_to("team/app", upload_id)
    assert not belongs_to("team/other", upload_id)
    assert not belongs_to("team/app/", upload_id)


def test_ids_are_unique() -> None:
    assert len({upload_id_for("team/app") for _ in range(1000)}) == 1000


def test_a_tampered_binding_is_refused() -> None:
    nonce, _, tag = upload_id_for("team/app").partition("-")
    flipped = "0" if tag[0] != "0" else "1"
    assert not belongs_to("team/app", f"{nonce}-{flipped}{tag[1:]}")
    # Reusing another repository's binding with the same nonce does not help either.
    other_tag = upload_id_for("team/other").partition("-")[2]
    assert not belongs_to("team/other", f"{nonce}-{other_tag}")


@pytest.mark.parametrize(
    "bad",
    ["", "nope", "123e4567-e89b-12d3-a456-426614174000", "../../x", "a" * 32, "a" * 32 + "-"],
)
def test_other_shapes_are_refused(bad: str) -> None:
    assert not belongs_to("team/app", bad)
