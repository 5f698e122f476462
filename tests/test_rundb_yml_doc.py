"""docs/rundb-yml.md: every example on the page loads, and every key the loader accepts is
documented there."""

import os
import re

import pytest

from rundb import config

from conftest import REPO

DOC = os.path.join(REPO, "docs", "rundb-yml.md")


def _doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def _examples():
    return re.findall(r"```yaml\n(.*?)```", _doc(), re.S)


def test_the_page_has_an_example_for_every_operation_key():
    assert len(_examples()) >= 18


@pytest.mark.parametrize("text", _examples(), ids=lambda t: t.splitlines()[0][:30])
def test_every_example_loads(text):
    cfg = config.parse_config(text)
    assert cfg.ops, "an example defines at least one operation"
    for name in cfg.ops:
        assert cfg.find_op(name).fullname == name


def test_every_operation_and_flag_key_is_documented():
    doc = _doc()
    headings = " ".join(re.findall(r"^### (.+)$", doc, re.M))
    for key in sorted(config._OP_ATTRS):
        assert re.search(rf"(^|[ ,]){re.escape(key)}([ ,]|$)", headings), key
    for key in sorted(config._FLAG_ATTRS) + ["choices"]:
        assert f"`{key}`" in doc, key
    for key in ("operations", "operation-defaults", "params", "extends", "$include",
                "- config", "- package", "- include", "default: yes"):
        assert key in doc, key


def test_requires_example_parses_to_its_files():
    (text,) = [t for t in _examples() if "requires:" in t]
    op = config.parse_config(text).find_op("train")
    assert [r.to_attr() for r in op.requires] == [
        {"file": "data.csv", "target": "data.csv", "copy": False},
        {"file": "images/", "target": "images", "copy": False},
        {"file": "vocab.txt", "target": "inputs/vocab.txt", "copy": True},
    ]


def test_sys_metrics_example_turns_them_off():
    (text,) = [t for t in _examples() if "sys-metrics:" in t]
    assert config.parse_config(text).find_op("train").sys_metrics is False
    assert config.parse_config("train: {main: train}").find_op("train").sys_metrics is True
