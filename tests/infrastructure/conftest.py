"""Infrastructure tests read the session's synthesized apps (fixtures `dev`, `prod`, `synthesized` in
tests/conftest.py) and are marked `infrastructure`."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.infrastructure)
