"""README.md's usage section is exactly what scripts/readme_usage.py writes from the commands' --help.

When this fails, a command's options changed: run `python scripts/readme_usage.py` and commit README.md.
"""
from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("readme_usage", ROOT / "scripts" / "readme_usage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _help_blocks(block: str) -> dict[str, str]:
    """Command name ('' for the top level) -> the --help text shown for it in the README block."""
    found = re.findall(r"```text\n\$ sg-explorer ?(\S*) ?--help\n(.*?)```", block, flags=re.S)
    return {name: text for name, text in found}


def _options(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", text))


def test_readme_usage_matches_the_commands_help(script):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = script.current_block(readme)
    expected = script.render()
    if script.python_tag() in block.splitlines()[0]:
        assert block == expected, "README.md's usage section is stale: run python scripts/readme_usage.py"
    # Whatever Python wrote it: every command has its help, and the options shown are the parser's options.
    from explorer import cli
    shown = _help_blocks(block)
    assert set(shown) == {""} | set(cli.COMMANDS)
    for name in cli.COMMANDS:
        parser = cli.build_parser(name)
        real = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
        assert _options(shown[name]) == real, name
        assert f"### `sg-explorer {name}" in block or name == "gui"


def test_every_command_has_a_description_and_example(script):
    from explorer import cli
    names = [name for name, *_ in script.SECTIONS]
    assert sorted(names) == sorted(cli.COMMANDS)
    for name, title, text, examples in script.SECTIONS:
        assert len(text) > 40 and examples
        assert all(e.startswith("sg-explorer") for e in examples)
        # The examples parse: no option in them that the command does not have.
        parser = cli.build_parser(name)
        real = {o for a in parser._actions for o in a.option_strings}
        for example in examples:
            assert _options(example) <= real, (name, example)


def test_check_detects_drift_and_rewrite_touches_only_the_block(script, tmp_path, capsys):
    copy = tmp_path / "README.md"
    copy.write_text("# Title\n\nintro\n\n## Usage\n\n" + "<!-- usage:begin -->\nold text\n<!-- usage:end -->"
                    + "\n\n## After\n\ntail text\n")
    assert script.main(["--check", "--readme", str(copy)]) == 1
    assert script.main(["--readme", str(copy)]) == 0
    text = copy.read_text()
    assert text.startswith("# Title\n\nintro\n\n## Usage\n\n<!-- usage:begin -->\n")
    assert text.endswith("<!-- usage:end -->\n\n## After\n\ntail text\n")
    assert script.current_block(text) == script.render()
    assert script.main(["--check", "--readme", str(copy)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # written atomically, no temporary left


def test_library_example_runs_as_written():
    """The README's Python example, on a StyleGAN3 fixture instead of the FFHQ file it names."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## Library use\n\n```python\n(.*?)```", readme, flags=re.S).group(1)
    fixture = ROOT / "tests" / "data" / "nvidia-compat" / "sg3r-32" / "network.pkl"
    code = code.replace('"stylegan3-t-ffhq-1024x1024.pkl"', repr(str(fixture)))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert tuple(scope["img"].shape) == (1, 3, 32, 32) and scope["ws"].shape[1] == scope["G"].num_ws
