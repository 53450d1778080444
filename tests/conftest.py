import sqlite3

import pytest
import sqlite_quiver


@pytest.fixture
def conn():
    c = sqlite3.connect(":memory:")
    sqlite_quiver.load(c)
    yield c
    c.close()
