from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def capture(rel: str) -> str:
    return (FIXTURES / rel).read_text()
