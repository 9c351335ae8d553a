"""The repository's promises: README commands, CI, package data."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*p):
    with open(os.path.join(ROOT, *p), encoding="utf-8") as f:
        return f.read()


def test_ci_runs_the_readme_test_command_verbatim():
    blocks = re.findall(r"```sh\n(.*?)\n```", _read("README.md"), re.S)
    test_cmd = blocks[1].strip()
    assert "pytest" in test_cmd
    ci_lines = [l.strip() for l in _read(".ci", "run").splitlines()]
    assert test_cmd in ci_lines


def test_ci_runs_the_readme_install_and_run_command_verbatim():
    blocks = re.findall(r"```sh\n(.*?)\n```", _read("README.md"), re.S)
    ci_lines = [l.strip() for l in _read(".ci", "run").splitlines()]
    assert blocks[0].strip() in ci_lines


def test_readme_opens_with_the_two_commands():
    text = _read("README.md")
    first_block = text.index("```sh")
    assert text.index("Install, compile") < first_block
    blocks = re.findall(r"```sh\n(.*?)\n```", text, re.S)
    assert "nndc compile examples/" in blocks[0] and "nndc run" in blocks[0]


def test_grammar_and_stdlib_ship_as_package_data():
    from importlib import resources
    assert resources.files("nnd.grammar").joinpath("nnd.lark").is_file()
    shipped = {p.name for p in resources.files("nnd.stdlib").iterdir() if p.name.endswith(".nnd")}
    on_disk = {f for f in os.listdir(os.path.join(ROOT, "stdlib")) if f.endswith(".nnd")}
    assert on_disk and shipped == on_disk
