"""Golden templates: the four VMs of issue 6, compared byte for byte with files a person read.

Regenerate after an intended change with ``RESTOREKIT_REGENERATE_GOLDEN=1 python -m pytest
tests/restore/test_template_golden.py``, then read ``git diff tests/restore/golden`` before committing.
"""

from __future__ import annotations

import json

import pytest

from tests.restore.template_kit import GOLDEN, REGENERATE, SCENARIOS, all_problems, build, dump

FILES = ("azuredeploy.json", "azuredeploy.parameters.json")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_matches_golden_and_validates(name: str) -> None:
    built = build(name)
    assert all_problems(built.template, built.parameters) == []
    folder = GOLDEN / name
    for file, doc in zip(FILES, (built.template, built.parameters), strict=True):
        if REGENERATE:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / file).write_text(dump(doc), "utf-8")
        assert (folder / file).read_text("utf-8") == dump(doc), f"{name}/{file} differs from the golden file"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden_files_pass_every_check(name: str) -> None:
    """The committed files themselves (not only today's output) are valid: a hand edit cannot break them."""
    template, parameters = (json.loads((GOLDEN / name / f).read_text("utf-8")) for f in FILES)
    assert all_problems(template, parameters) == []
