"""ruff (configured in ruff.toml, 99 columns) over the whole repository."""
import subprocess
import sys

import pytest

from conftest import REPO


def test_ruff_is_clean():
    pytest.importorskip('ruff', reason='ruff is installed by scripts/setup.sh --test')
    result = subprocess.run([sys.executable, '-m', 'ruff', 'check', str(REPO)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
