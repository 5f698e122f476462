"""Run labels: the default label and label templates (SPEC §11)."""

import os

import pytest

from rundb.ops.labels import default_label, run_label


@pytest.mark.parametrize(
    "template,flags,label",
    [
        # missing template: the default label
        ("", {}, ""),
        (None, {}, ""),
        (None, {"foo": "FOO"}, "foo=FOO"),
        ("", {"foo": "FOO", "bar": "BAR"}, "bar=BAR foo=FOO"),
        ("", {"f": 1.123456789}, "f=1.12345"),
        # templates
        ("foo", {}, "foo"),
        ("foo", {"foo": "FOO"}, "foo"),
        ("${foo}", {}, ""),
        ("${foo}", {"foo": "FOO"}, "FOO"),
        ("foo: ${foo}", {"foo": "FOO"}, "foo: FOO"),
        ("${i} ${f} ${b} ${s} ${l}",
         {"i": 1234, "f": 9.87654321, "b": True, "s": "hello", "l": [1, 1.123, "hola"]},
         "1234 9.87654 yes hello [1, 1.123, hola]"),
        ("a-${b}-c", {}, "a--c"),
        ("${b}-c", {}, "-c"),
        ("a-${b}", {}, "a-"),
        ("a-${b|default:b}-c", {}, "a-b-c"),
        ("${b|default:b}-c", {}, "b-c"),
        ("a-${b|default:b}", {}, "a-b"),
        ("a-${b}-c", {"b": "b"}, "a-b-c"),
        ("${b}-c", {"b": "b"}, "b-c"),
        ("a-${b}", {"b": "b"}, "a-b"),
        ("msg is ${msg}", {"msg": "hi 2"}, "msg is 'hi 2'"),
        ("i:${i}, f:${f}, b:${b}, s:${s}", {"i": 1, "f": 2.0, "b": True, "s": "hello"},
         "i:1, f:2.0, b:yes, s:hello"),
        # the default label in a template
        ("${default_label}", {}, ""),
        ("${default_label}", {"foo": "FOO", "bar": "BAR"}, "bar=BAR foo=FOO"),
        ("prefix ${default_label}", {"foo": "FOO", "bar": "BAR"}, "prefix bar=BAR foo=FOO"),
        ("${default_label} suffix", {"foo": "FOO", "bar": "BAR"}, "bar=BAR foo=FOO suffix"),
        ("prefix ${default_label} suffix", {"foo": "FOO", "bar": "BAR"},
         "prefix bar=BAR foo=FOO suffix"),
        # value formatting
        (None, {"f1": 1.0, "f2": 1.0 / 3.0, "b1": True, "b2": False, "i": 123},
         "b1=yes b2=no f1=1.0 f2=0.33333 i=123"),
        (None, {"msg": "Hello Guild!"}, "msg='Hello Guild!'"),
        (None, {"n": None, "s": ""}, "n=null s=''"),
        # filters
        ("${file|basename}", {"file": os.path.join("foo", "bar.txt")}, "bar.txt"),
        ("${foo|default:123}", {}, "123"),
        ("${foo|default:456}", {"foo": None}, "456"),
        ("${foo|default:456}", {"foo": "789"}, "789"),
        ("${f|%.2f} ${i|%05d}", {"f": 1.123456789, "i": 12}, "1.12 00012"),
        ("${f|default:0|%.1f}", {"f": 2.25}, "2.2"),
        ("${f|default:none|%.1f}", {}, "none"),
        ("ver=${ver}", {"ver": "12345"}, "ver='12345'"),
        ("ver=${ver|unquote}", {"ver": "12345"}, "ver=12345"),
        ("ver=${ver|unquote}", {"ver": '"12345"'}, 'ver="12345"'),
        ("ver=${ver|unquote}", {"ver": ""}, "ver="),
        ("ver=${ver|unquote}", {"ver": "'"}, "ver='"),
        ("ver=${ver|unquote}", {"ver": None}, "ver="),
        ("ver=${ver|unquote}", {"ver": "'12345'"}, "ver=12345"),
        # None renders as nothing, like an undefined flag
        ("x=${x}", {"x": None}, "x="),
    ],
)
def test_run_label(template, flags, label, warnings_log):
    assert run_label(template, flags) == label
    assert warnings_log() == []


def test_bad_format_keeps_value_and_warns(warnings_log):
    assert run_label("${s|%z}", {"s": "hello"}) == "hello"
    assert warnings_log() == [
        "WARNING: error formatting 'hello' with '%z': "
        "unsupported format character 'z' (0x7a) at index 1"
    ]


def test_format_for_another_type_is_silently_ignored(warnings_log):
    assert run_label("${s|%.2f}", {"s": "hello"}) == "hello"
    assert warnings_log() == []


def test_unknown_filter_warns(warnings_log):
    assert run_label("${s|shout}", {"s": "hello"}) == "hello"
    assert warnings_log() == ["WARNING: unknown label filter 'shout' - ignoring"]


def test_long_paths_are_shortened(tmp_path):
    long_path = tmp_path / "abc/def/ghi/jkl/mno/pqr/stu/vwx/yz"
    long_path.mkdir(parents=True)
    label = run_label("", {"p": str(long_path)})
    # The seed shows 'p=.../\u2026/vwx/yz' for a mkdtemp() dir; how much of the
    # head and tail fits depends on the temp dir, so check the shape.
    assert label.startswith("p=" + os.path.sep)
    assert "\u2026" in label
    assert label.endswith("/vwx/yz")
    assert len(label) <= len("p=") + 28


@pytest.mark.parametrize(
    "path,shown",
    [
        ("/tmp/tmpab12cd34/abc/def/ghi/jkl/mno/pqr/stu/vwx/yz", "/tmp/tmpab12cd34/\u2026/vwx/yz"),
        ("/tmp/x/abc/def/ghi/jkl/mno/pqr/stu/vwx/yz", "/tmp/x/abc/\u2026/pqr/stu/vwx/yz"),
        ("/short/path", "/short/path"),
        ("relative/abc/def/ghi/jkl/mno/pqr/stu/vwx/yz",
         "relative/abc/def/ghi/jkl/mno/pqr/stu/vwx/yz"),
    ],
)
def test_path_shortening(path, shown):
    if os.path.sep != "/":
        pytest.skip("POSIX paths")
    assert run_label("${p}", {"p": path}) == shown


def test_default_label_is_run_label_without_template():
    flags = {"b1": True, "b2": False, "f1": 1.0, "f2": 1 / 3, "i": 123}
    assert default_label(flags) == "b1=yes b2=no f1=1.0 f2=0.33333 i=123"
    assert default_label({}) == ""
