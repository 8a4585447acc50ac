"""The golden-file helper of tests/conftest.py: a missing golden file fails the test that
needs it, unless `pytest --update-golden` asks for it to be written."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_matches_golden


def test_a_missing_golden_file_fails_and_is_not_written(tmp_path: Path) -> None:
    golden = tmp_path / "golden" / "net.py"
    with pytest.raises(pytest.fail.Exception, match=r"missing.*--update-golden"):
        assert_matches_golden(golden, "generated\n", update=False)
    assert not golden.exists()


def test_update_golden_writes_it_and_a_change_then_fails(tmp_path: Path) -> None:
    golden = tmp_path / "golden" / "net.py"
    assert_matches_golden(golden, "generated\n", update=True)
    assert golden.read_text() == "generated\n"
    assert_matches_golden(golden, "generated\n", update=False)
    with pytest.raises(AssertionError):
        assert_matches_golden(golden, "changed\n", update=False)
