"""The README's two commands: the test command is exactly what CI (.ci/run) runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _two_commands_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_readme_opens_with_two_commands():
    blocks = _two_commands_blocks()
    assert len(blocks) == 2, blocks
    assert all(len(block.splitlines()) == 1 for block in blocks), "each of the two commands is one line"
    assert "scripts/setup.sh" in blocks[0] and "scripts/setup.sh" in blocks[1]


def test_ci_runs_the_readme_test_command():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [line for line in ci_lines if line and not line.startswith("#") and not line.startswith("set ")
                and not line.startswith("cd ")]
    assert commands == [_two_commands_blocks()[1]]
