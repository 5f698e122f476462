import json

import pytest

from rundb.errors import OpError
from rundb.outputscalars import (
    DEFAULT_PATTERNS,
    KERAS_PATTERNS,
    VALUE_PATTERN,
    OutputScalarParser,
    clean_lines,
    expand_aliases,
    test_output_scalars,
)


def events(config, lines, keras=False):
    parser = OutputScalarParser(config, keras=keras)
    return [e for line in lines for e in parser.feed(line)]


X_LINE = "x=1 y=1 - x=2 y=2 - x=3 y=3"
EPOCHS = [
    "Epoch 1: loss=1.0 s_val=2 x=3 mAP=4.123",
    "Epoch 2: loss=2.0 s_val=3 x=4 mAP=5.234",
    "Epoch 3: loss=3.0 s_val=4 x=4 mAP=6.4567890123456",
]
EPOCH_EVENTS = [
    ("loss", 1.0, 1), ("mAP", 4.123, 1), ("s_val", 2.0, 1), ("x", 3.0, 1),
    ("loss", 2.0, 2), ("mAP", 5.234, 2), ("s_val", 3.0, 2), ("x", 4.0, 2),
    ("loss", 3.0, 3), ("mAP", 6.4567890123456, 3), ("s_val", 4.0, 3), ("x", 4.0, 3),
]  # fmt: skip
ITER_LINES = ["iter 0 | loss: 0.6", "iter 1 | loss: 0.4", "Total loss: 1.1"]


@pytest.mark.parametrize(
    "config,lines,expected",
    [
        pytest.param([], ["loss: 1.0"], [], id="empty-config"),
        pytest.param(
            [{"step": r"step (\d+):", "loss": r"loss: (\S+)", "acc": r"acc: (\S+)"}],
            ["Training...", "step 1:", "loss: 1.123 - acc: 0.134", "step 2:", "loss: 0.132 - acc: 0.456"],
            [("acc", 0.134, 1), ("loss", 1.123, 1), ("acc", 0.456, 2), ("loss", 0.132, 2)],
            id="map-with-step",
        ),
        pytest.param(
            [{"step": r"Epoch (\S+):", "loss": r"loss=(\S+)", "s_val": r"s_val=(\S+)",
              "x": r"x=(\S+)", "mAP": r"mAP=(\S+)"}],
            EPOCHS,
            EPOCH_EVENTS,
            id="map-step-in-same-line",
        ),  # fmt: skip
        pytest.param(
            [r"Epoch (?P<step>\S+): loss=(?P<loss>\S+) s_val=(?P<s_val>\S+) x=(?P<x>\S+) mAP=(?P<mAP>\S+)"],
            EPOCHS,
            EPOCH_EVENTS,
            id="named-groups",
        ),
        pytest.param(
            [r"iter (?P<step>\step) | loss: (?P<loss>\value)", {"score": r"Total loss: (\value)"}],
            ITER_LINES,
            [("loss", 0.6, 0), ("loss", 0.4, 1), ("loss", 1.1, 1), ("score", 1.1, 1)],
            id="pipe-as-alternation",
        ),
        pytest.param(
            [r"iter (?P<step>\step) \| loss: (?P<loss>\value)", {"score": r"Total loss: (\value)"}],
            ITER_LINES,
            [("loss", 0.6, 0), ("loss", 0.4, 1), ("score", 1.1, 1)],
            id="pipe-escaped",
        ),
        pytest.param(
            [r"(\S+):\s+([\d\.eE\-+]+)"],
            ["loss: 1.123", "acc: 0.456", "val_acc: 1.1e-3", "foo: bar"],
            [("loss", 1.123, 0), ("acc", 0.456, 0), ("val_acc", 0.0011, 0)],
            id="two-groups",
        ),
        pytest.param(
            [r"(?P<_val>[+-]?[\d\.]+) \((?P<_key>\S+)\)"],
            ["1.123 (loss)", "0.456 (acc)", "0.567 (val_acc)"],
            [("loss", 1.123, 0), ("acc", 0.456, 0), ("val_acc", 0.567, 0)],
            id="_key-_val",
        ),
        pytest.param([{"x": r"x=(\d+)"}], [X_LINE], [("x", 3.0, 0)], id="map-last-match-wins"),
        pytest.param(
            [r"(\w+)=(\d+)"], [X_LINE], [("x", 3.0, 0), ("y", 3.0, 0)], id="two-groups-last-wins"
        ),
        pytest.param(
            [r"x=(?P<x2>\d+)", r"y=(?P<y2>\d+)"],
            [X_LINE],
            [("x2", 3.0, 0), ("y2", 3.0, 0)],
            id="named-last-wins",
        ),
        pytest.param(
            None,
            ["loss: 0.5", "acc: 0.9 (step 3)", "foo: bar"],
            [("loss", 0.5, 0), ("acc", 0.9, 3)],
            id="default-step-suffix",
        ),
        pytest.param(
            None,
            ["step: 1", "x: 1", "step: 2", "x: 2", "step: 3", "x: 3", "x: 4"],
            [("x", 1.0, 1), ("x", 2.0, 2), ("x", 3.0, 3), ("x", 4.0, 3)],
            id="default-step-key",
        ),
        pytest.param(
            None,
            ["loss: 1.0 (step 7)", "acc: 2.0", "loss: 3.0 (anything)", "a b: 1", "x:1", "y: 1.2.3"],
            [("loss", 1.0, 7), ("acc", 2.0, 7), ("loss", 3.0, 7)],
            id="default-edge-cases",
        ),
        pytest.param(r"^(\key): (\value)", ["loss: 1.5", "acc 2"], [("loss", 1.5, 0)], id="string"),
        pytest.param({"loss": r"loss: (\S+)"}, ["loss: 2 (x)"], [("loss", 2.0, 0)], id="map"),
        pytest.param("no", ["loss: 1.0"], [], id="no"),
        pytest.param(False, ["loss: 1.0"], [], id="false"),
    ],
)
def test_output_scalar_events(config, lines, expected):
    assert events(config, lines) == expected


def test_keras_lines():
    lines = [
        "Epoch 2/5",
        "60000/60000 [==============================] - 3s 50us/step - loss: 0.3012 - acc: 0.8891",
        "Test loss: 0.31",
        "Test accuracy: 0.88",
    ]
    assert events(None, lines, keras=True) == [
        ("loss", 0.3012, 2),
        ("acc", 0.8891, 2),
        ("test_loss", 0.31, 2),
        ("test_accuracy", 0.88, 2),
    ]
    # the default patterns stay in force for the script's own prints
    assert events(None, ["Epoch 3/5", "custom: 1.5"], keras=True) == [("custom", 1.5, 3)]
    # without keras the progress line means nothing
    assert events(None, lines) == []


def test_keras_patterns_config():
    assert OutputScalarParser(keras=True).patterns_config == [
        "Epoch (?P<step>[0-9]+)",
        " - ([a-z_]+): (\\value)",
        "Test loss: (?P<test_loss>\\value)",
        "Test accuracy: (?P<test_accuracy>\\value)",
        "^\\key:\\s+\\value\\s+\\((?:step\\s+)?(?P<step>\\step)\\)$",
        "^(\\key):\\s+(\\value)(?:\\s+\\(.*\\))?$",
    ]
    assert OutputScalarParser().patterns_config == list(DEFAULT_PATTERNS)
    assert len(KERAS_PATTERNS) == 4
    # an explicit config wins over keras detection
    assert OutputScalarParser(["a (\\key)=(\\value)"], keras=True).patterns_config == [
        "a (\\key)=(\\value)"
    ]


def test_step_persists_across_feeds_and_newlines_are_dropped():
    parser = OutputScalarParser()
    assert parser.feed("step: 5\n") == []
    assert parser.step == 5
    assert parser.feed("loss: 1\r\n") == [("loss", 1.0, 5)]
    assert parser.feed("loss: 2\n") == [("loss", 2.0, 5)]
    assert parser.feed("") == []


@pytest.mark.parametrize(
    "lines,step",
    [
        (["step: 1.0"], 1),
        (["step: 12345678901234567890"], 12345678901234567890),
        (["step: 3", "step: x"], 3),
    ],
)
def test_step_values(lines, step):
    parser = OutputScalarParser([r"^(\key): (\S+)$"])
    for line in lines:
        parser.feed(line)
    assert parser.step == step


@pytest.mark.parametrize(
    "config,msg",
    [
        ({}, "invalid output scalar config: {}"),
        (1, "invalid output scalar config: 1"),
        ("", "invalid output scalar config: ''"),
        ([1], "invalid output scalar config: 1"),
        ([{"loss": 1}], "invalid output scalar config: {'loss': 1}"),
    ],
)
def test_invalid_config(config, msg):
    with pytest.raises(TypeError) as e:
        OutputScalarParser(config)
    assert str(e.value) == msg


@pytest.mark.parametrize(
    "config,msg",
    [
        (["(oops"], "invalid output scalar pattern '(oops': missing ), unterminated subpattern at position 0"),
        ([{"loss": "loss: \\S+"}], "output scalar pattern 'loss: \\\\S+' for 'loss' needs a group for the value"),
        (["loss: (\\S+)"], "output scalar pattern 'loss: (\\\\S+)' needs two groups (key and value) or named groups"),
    ],
)  # fmt: skip
def test_invalid_patterns(config, msg):
    with pytest.raises(OpError) as e:
        OutputScalarParser(config)
    assert str(e.value) == msg


@pytest.mark.parametrize(
    "config",
    [None, "no", r"^(\key) = (\value)$", {"b": "b=(\\d+)", "a": "a=(\\d+)"}, [r"x=(?P<x>\d+)", {"y": "y=(\\d+)"}]],
)  # fmt: skip
def test_patterns_config_round_trips_through_json(config):
    parser = OutputScalarParser(config)
    rebuilt = OutputScalarParser.from_config(json.loads(json.dumps(parser.patterns_config)))
    assert rebuilt.patterns_config == parser.patterns_config
    assert rebuilt.patterns == parser.patterns
    lines = ["a=1 b=2", "x=3 y=4", "loss = 5", "loss: 6 (step 2)"]
    assert events(rebuilt.patterns_config, lines) == events(config, lines)


def test_from_config_rejects_non_lists():
    with pytest.raises(TypeError, match="invalid output scalar config: 'x'"):
        OutputScalarParser.from_config("x")


def test_patterns_lists_map_entries_by_key():
    parser = OutputScalarParser([{"step": "step=(\\d+)", "loss": "loss=(\\d+\\.\\d+)"}, "(\\S+): (\\S+)"])
    assert parser.patterns == [
        ("loss", "loss=(\\d+\\.\\d+)"),
        ("step", "step=(\\d+)"),
        (None, "(\\S+): (\\S+)"),
    ]


@pytest.mark.parametrize(
    "pattern,expanded",
    [
        (r"^(\key):\s+(\value)$", "^([^ \t]+):\\s+(" + VALUE_PATTERN + ")$"),
        (r"(?P<step>\step)", "(?P<step>[0-9]+)"),
        (r"\\key \keys", "\\\\key [^ \t]+s"),
    ],
)
def test_expand_aliases(pattern, expanded):
    assert expand_aliases(pattern) == expanded


def test_test_output_scalars_default():
    out = test_output_scalars(["foo: 1.123", "bar"], OutputScalarParser())
    assert out == (
        "foo: 1.123\n"
        "  '^[^ \\t]+:\\\\s+[0-9\\\\.e\\\\-]+\\\\s+\\\\((?:step\\\\s+)?(?P<step>[0-9]+)\\\\)$': <no matches>\n"
        "  '^([^ \\t]+):\\\\s+([0-9\\\\.e\\\\-]+)(?:\\\\s+\\\\(.*\\\\))?$': [('foo', '1.123')] (foo=1.123)\n"
        "bar\n"
        "  '^[^ \\t]+:\\\\s+[0-9\\\\.e\\\\-]+\\\\s+\\\\((?:step\\\\s+)?(?P<step>[0-9]+)\\\\)$': <no matches>\n"
        "  '^([^ \\t]+):\\\\s+([0-9\\\\.e\\\\-]+)(?:\\\\s+\\\\(.*\\\\))?$': <no matches>\n"
    )


def test_test_output_scalars_map():
    parser = OutputScalarParser(
        {"step": r"step: (\value)", "loss": r"loss: (\value)", "accuracy": r"accuracy: (\value)"}
    )
    parser.feed("step: 9")
    out = test_output_scalars(["step: 1", "loss: 1.1", "bar 3.3"], parser)
    assert out.splitlines() == [
        "step: 1",
        "  'accuracy: ([0-9\\\\.e\\\\-]+)': <no matches>",
        "  'loss: ([0-9\\\\.e\\\\-]+)': <no matches>",
        "  'step: ([0-9\\\\.e\\\\-]+)': [('1',)] (step=1.0)",
        "loss: 1.1",
        "  'accuracy: ([0-9\\\\.e\\\\-]+)': <no matches>",
        "  'loss: ([0-9\\\\.e\\\\-]+)': [('1.1',)] (loss=1.1)",
        "  'step: ([0-9\\\\.e\\\\-]+)': <no matches>",
        "bar 3.3",
        "  'accuracy: ([0-9\\\\.e\\\\-]+)': <no matches>",
        "  'loss: ([0-9\\\\.e\\\\-]+)': <no matches>",
        "  'step: ([0-9\\\\.e\\\\-]+)': <no matches>",
    ]
    assert parser.step == 9


def test_test_output_scalars_several_matches_and_non_numbers():
    out = test_output_scalars(["x=1 y=2 z=a"], OutputScalarParser([r"(\w+)=(\w+)"]))
    assert out.splitlines()[1] == "  '(\\\\w+)=(\\\\w+)': [('x', '1'), ('y', '2'), ('z', 'a')] (x=1.0, y=2.0)"
    out = test_output_scalars(["z=a"], OutputScalarParser([r"(\w+)=(\w+)"]))
    assert out.splitlines()[1] == "  '(\\\\w+)=(\\\\w+)': [('z', 'a')] (no numeric values)"


def test_progress_lines_give_no_scalars():
    # The parser sees every output line of a training script (its speed is measured by
    # bench/bench_ingest.py, never asserted here): progress text is no scalar.
    parser = OutputScalarParser()
    assert parser.feed("Training batch 1234 of 50000, elapsed 0.25 s") == []
    assert parser.feed("loss: 0.5") == [("loss", 0.5, 0)]


# --- feed_text: whole blocks of lines, as the indexer process reads them ----------------

from hypothesis import given, settings
from hypothesis import strategies as st

_LINES = ["loss: 0.5", "acc: 0.9 (step 3)", "foo: bar", "step: 7", "x: 1 (hello)",
          "x: 2 (step 4) extra)", "step: 5 (step 3)", "y: 1.2.3 (step 9)", "a:b: 1",
          " loss: 2", "loss:\t3", "p\rloss: 4", "progress 10%\rloss: 5\r", "w: -1e-3 (12)",
          "loss: 0.25 (step 11)", "acc: 0.5 (step 12)", "Epoch 2/5", "", "step: x"]


def _per_line(config, lines):
    parser = OutputScalarParser(config)
    out = {}
    for line in lines:
        line = line[:-1] if line.endswith("\r") else line
        for key, value, step in parser.feed(line.rsplit("\r", 1)[-1]):
            out.setdefault(key, ([], []))
            out[key][0].append(step)
            out[key][1].append(value)
    return out, parser.step


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_LINES), min_size=1, max_size=15), st.integers(0, 15),
       st.sampled_from([None, [r"Epoch (?P<step>[0-9]+)", r"^(\key):\s+(\value)$"]]))
def test_feed_text_equals_feeding_each_line(lines, cut, config):
    expect, step = _per_line(config, lines)
    parser = OutputScalarParser(config)
    got = {}
    for part in (lines[:cut], lines[cut:]):
        if part:
            parser.feed_text("\n".join(part) + "\n", got)
    assert got == expect
    assert parser.step == step


# --- issue 14: what Python, NumPy, PyTorch and Keras print -------------------------------

# (line, scalars) as Guild 0.9.0's own summary._match_line gives them with its default
# patterns (computed once in a scratch venv with guildai==0.9.0; written here as literals).
GUILD_DEFAULTS = [
    ("loss: 0.5", {"loss": 0.5}),
    ("loss: 0.5 ", {"loss": 0.5}),
    ("acc: 0.9 (step 2) ", {"acc": 0.9, "step": 2}),
    ("loss: 1e-3", {"loss": 0.001}),
    ("loss: -0.25", {"loss": -0.25}),
    ("loss: .5", {"loss": 0.5}),
    ("loss: 5.", {"loss": 5.0}),
    ("loss: 1.2.3", {}),
    ("loss: 12", {"loss": 12.0}),
    ("loss: 1e5", {"loss": 100000.0}),
    ("x: 1-2", {}),
    ("loss:\t0.5", {"loss": 0.5}),
    ("loss: 0.5 (step 3)", {"loss": 0.5, "step": 3}),
    ("loss: 0.5 (3)", {"loss": 0.5, "step": 3}),
    ("loss: 0.5 (epoch 3)", {"loss": 0.5}),
    ("loss: 0.5  \t", {"loss": 0.5}),
    ("loss: 2e", {}),
    ("loss: 0.5e-3", {"loss": 0.0005}),
    ("val_loss: 0.125 (step 10)\t", {"val_loss": 0.125, "step": 10}),
    (" loss: 2", {}),
]

# Guild 0.9.0 with the patterns [r"loss: (?P<loss>\value)", {"acc": r"acc=(\value)"}]
GUILD_CUSTOM = [
    ("loss: 0.5+/-0.1", {"loss": 0.5}),
    ("loss: 1.2.3", {}),
    ("acc=0.7 ", {"acc": 0.7}),
    ("acc=1e-2,", {"acc": 0.01}),
    ("loss: 3-", {}),
]

# Beyond Guild (whose \value is [0-9.e-]+): the rules of issue 14.
BEYOND = [
    ("loss: nan", {"loss": "nan"}),
    ("loss: NaN", {"loss": "nan"}),
    ("loss: inf", {"loss": float("inf")}),
    ("loss: -inf", {"loss": float("-inf")}),
    ("loss: +inf", {"loss": float("inf")}),
    ("loss: Infinity", {"loss": float("inf")}),
    ("loss: -INFINITY", {"loss": float("-inf")}),
    ("loss: 3.2e+20", {"loss": 3.2e20}),
    ("loss: 1E-3", {"loss": 0.001}),
    ("loss: 1E5", {"loss": 1e5}),  # Guild reads 1.0 here
    ("loss: +0.5", {"loss": 0.5}),
    ("loss: nan (step 4)", {"loss": "nan", "step": 4}),
    ("loss: nanny", {}),
    ("loss: info", {}),
    ("\x07loss: 0.5\x07", {"loss": 0.5}),
    ("\x1b[31mloss\x1b[0m: \x1b[1m0.5\x1b[0m", {"loss": 0.5}),
    ("loss: 0.4\r", {"loss": 0.4}),
    ("12%|###   \rloss: 0.4\r", {"loss": 0.4}),
    ("loss: 0.4\r\r\n", {"loss": 0.4}),
]


def _scalars_of(line, config=None):
    parser = OutputScalarParser(config)
    got = {key: ("nan" if value != value else value) for key, value, _ in parser.feed(line)}
    if parser.step:
        got["step"] = parser.step
    return got


@pytest.mark.parametrize("line,expected", GUILD_DEFAULTS + BEYOND)
def test_default_patterns_table(line, expected):
    assert _scalars_of(line) == expected
    parser = OutputScalarParser()
    block = parser.feed_text(line + "\n")
    assert {k: ("nan" if v[-1] != v[-1] else v[-1]) for k, (_, v) in block.items()} == {
        k: v for k, v in expected.items() if k != "step"}


@pytest.mark.parametrize("line,expected", GUILD_CUSTOM + [
    ("loss: -inf", {"loss": float("-inf")}), ("acc=NAN,", {"acc": "nan"})])
def test_custom_patterns_table(line, expected):
    assert _scalars_of(line, [r"loss: (?P<loss>\value)", {"acc": r"acc=(\value)"}]) == expected


def test_control_characters_never_reach_keys():
    parser = OutputScalarParser([r"(\key)=(\value)"])
    assert parser.feed("\x07lr\x08=\x1b[32m0.1\x1b[0m") == [("lr", 0.1, 0)]
    assert clean_lines("a\x00b\tc \n") == ["ab\tc"]


def test_report_spells_value_as_guild():
    out = test_output_scalars(["loss: nan"], OutputScalarParser([r"^(\key):\s+(\value)$"]))
    assert out.splitlines() == [
        "loss: nan", "  '^([^ \\t]+):\\\\s+([0-9\\\\.e\\\\-]+)$': [('loss', 'nan')] (loss=nan)"]


# Any text, split into chunks at any points and fed as the live indexer feeds it (whole
# lines of each chunk, the partial rest carried over), gives the same scalars as the whole
# text in one block (index rebuild) and as feed() a line at a time.
_ALPHABET = st.sampled_from(
    ["loss: ", "acc: ", "step: ", "loss", ":", " ", "\t", "0", "1", ".", "5", "e", "E", "-",
     "+", "nan", "inf", "(", ")", "(step 3)", "\r", "\r", "\n", "\n", "\n", "\x1b[0m",
     "\x07", "x", "é", "0.4", "1e-3", "Epoch 2"])


def _live(config, data, cuts):
    parser = OutputScalarParser(config)
    out, partial = {}, b""
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    for i, chunk in enumerate(chunks):
        buf = partial + chunk
        cut = len(buf) if i == len(chunks) - 1 else buf.rfind(b"\n") + 1
        partial = buf[cut:]
        if cut:
            parser.feed_text(buf[:cut].decode("utf-8", "replace"), out)
    return out


def _nan_safe(series):
    return {k: (s, [repr(x) for x in v]) for k, (s, v) in series.items()}


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=60).map("".join), st.lists(st.integers(0, 400), max_size=6),
       st.sampled_from([None, [r"Epoch (?P<step>[0-9]+)", r"^(\key):\s+(\value)$"]]))
def test_live_block_and_line_parsing_agree(text, cuts, config):
    data = text.encode("utf-8")
    cuts = sorted({c for c in cuts if 0 < c < len(data)})
    block = OutputScalarParser(config).feed_text(text)
    per_line, parser = {}, OutputScalarParser(config)
    for line in text.split("\n"):
        for key, value, step in parser.feed(line):
            _append_point(per_line, key, step, value)
    live = _live(config, data, cuts)
    assert _nan_safe(live) == _nan_safe(block) == _nan_safe(per_line)


def _append_point(out, key, step, value):
    steps, values = out.setdefault(key, ([], []))
    steps.append(step)
    values.append(value)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_ALPHABET.map(str.encode), st.binary(max_size=4)), max_size=60)
       .map(b"".join), st.lists(st.integers(0, 400), max_size=6))
def test_live_and_block_parsing_agree_on_any_bytes(data, cuts):
    cuts = sorted({c for c in cuts if 0 < c < len(data)})
    text = data.decode("utf-8", "replace")
    block = OutputScalarParser().feed_text(text)
    assert _nan_safe(_live(None, data, cuts)) == _nan_safe(block)
