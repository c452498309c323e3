"""ruff (configured in ruff.toml, 99 columns) over the whole repository."""
import shutil
import subprocess

import pytest

from conftest import REPO


def test_ruff_is_clean():
    ruff = shutil.which('ruff')
    if ruff is None:
        pytest.fail('ruff is not installed: run scripts/setup.sh --test')
    result = subprocess.run([ruff, 'check', str(REPO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
