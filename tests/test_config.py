import math
import subprocess
import sys
import textwrap

import pytest

from rundb.config import (
    FlagDef,
    OpDef,
    coerce_flag_value,
    load_config,
    parse_config,
    parse_opspec,
)
from rundb.errors import FlagError, OpError

HINT = "Try 'rundb operations' for a list of available operations."


def write_config(tmp_path, text, name="rundb.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def config(text):
    return parse_config(textwrap.dedent(text))


def op(text, spec="op"):
    return config(text).find_op(spec)


def config_error(text):
    with pytest.raises(OpError) as e:
        config(text)
    return str(e.value)


def flagdef(value, name="flag"):
    return op(f"op:\n  flags:\n    {name}: {value}\n").flags[name]


# ---------------------------------------------------------------------------
# Loading files


def test_load_simplified_form(tmp_path):
    write_config(
        tmp_path,
        """
        train:
          description: Train a model
          main: train --epochs 3
          flags:
            lr: 0.01
            batch-size: {default: 32, description: Batch size}
        evaluate:
          exec: python eval.py ${flag_args}
        prepare: prepare_data
        """,
    )
    cfg = load_config(tmp_path)
    assert cfg.path == str(tmp_path / "rundb.yml")
    assert list(cfg.ops) == ["evaluate", "prepare", "train"]
    assert list(cfg.models) == [""]
    train = cfg.find_op("train")
    assert (train.name, train.model, train.fullname) == ("train", "", "train")
    assert train.description == "Train a model"
    assert train.main == "train --epochs 3"
    assert train.exec is None
    assert list(train.flags) == ["batch-size", "lr"]
    assert train.flag_values() == {"batch-size": 32, "lr": 0.01}
    assert train.flags["batch-size"].description == "Batch size"
    assert cfg.find_op("evaluate").exec == "python eval.py ${flag_args}"
    # An op given as a string is its main module.
    assert cfg.find_op("prepare").main == "prepare_data"


def test_load_full_form(tmp_path):
    write_config(
        tmp_path,
        """
        - package: mnist
          version: 1.0
        - include: other.yml
        - config: shared
          operations:
            unused: {main: unused}
        - model: mnist
          description: MNIST classifier
          operations:
            train:
              main: train
              default: yes
            evaluate: evaluate
        - model: cifar
          operations:
            train: cifar_train
        """,
    )
    cfg = load_config(tmp_path)
    assert list(cfg.models) == ["mnist", "cifar"]
    assert cfg.models["mnist"].description == "MNIST classifier"
    assert list(cfg.ops) == ["mnist:evaluate", "mnist:train", "cifar:train"]
    assert cfg.find_op("mnist:train").fullname == "mnist:train"
    assert cfg.find_op("cifar:train").main == "cifar_train"
    # Two models and neither is the default: a model must be named.
    assert cfg.default_model() is None
    with pytest.raises(OpError) as e:
        cfg.find_op("train")
    assert str(e.value) == (
        "cannot find operation train\n"
        "You may need to include a model in the form MODEL:OPERATION.\n" + HINT
    )


def test_load_rundb_yaml_and_explicit_path(tmp_path):
    path = write_config(tmp_path, "op: {main: op}\n", name="rundb.yaml")
    assert list(load_config(tmp_path).ops) == ["op"]
    assert load_config(path).path == str(path)
    assert load_config(str(path)).path == str(path)


def test_rundb_yml_wins_over_rundb_yaml(tmp_path):
    write_config(tmp_path, "a: {main: a}\n", name="rundb.yaml")
    write_config(tmp_path, "b: {main: b}\n")
    assert list(load_config(tmp_path).ops) == ["b"]


def test_load_missing_config(tmp_path):
    assert load_config(tmp_path) is None
    assert load_config(tmp_path / "rundb.yml") is None


def test_empty_file(tmp_path):
    write_config(tmp_path, "")
    cfg = load_config(tmp_path)
    assert cfg.ops == {}
    with pytest.raises(OpError) as e:
        cfg.default_op()
    assert str(e.value) == "cannot find a default operation\nTry 'rundb operations' for a list."


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = write_config(tmp_path, "train:\n  main: train\n  flags: [1, 2\n")
    with pytest.raises(OpError) as e:
        load_config(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(f"error in {path}: invalid YAML at line 4, column 1: ")


def test_yaml_mapping_error(tmp_path):
    path = write_config(tmp_path, "train:\n  main: train\n   flags: x: 1\n")
    with pytest.raises(OpError) as e:
        load_config(tmp_path)
    assert str(e.value) == (
        f"error in {path}: invalid YAML at line 3, column 9: "
        "mapping values are not allowed here"
    )


def test_invalid_format(tmp_path):
    path = write_config(tmp_path, "This is invalid YAML!\n")
    with pytest.raises(OpError) as e:
        load_config(tmp_path)
    assert str(e.value) == (
        f"error in {path}: invalid rundb.yml data 'This is invalid YAML!': expected a mapping"
    )


def test_list_item_must_be_a_mapping():
    assert config_error("- model: m\n- 123\n") == (
        "error in <string>: invalid rundb.yml data 123: expected a mapping"
    )


def test_missing_required_type():
    assert config_error("- foo: bar\n") == (
        "error in <string>: missing required type "
        "(one of: config, include, model, package) in {'foo': 'bar'}"
    )


def test_importing_config_does_not_import_yaml():
    code = "import sys, rundb.config; print('yaml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------
# Models, default ops and finding ops


def test_anonymous_model_forms():
    for text in [
        "op1: {exec: 'true'}\nop2: {exec: 'true'}\n",
        "- operations:\n    op1: rundb.pass\n    op2: rundb.pass\n",
        "- model: ''\n  operations:\n    op1: rundb.pass\n    op2: rundb.pass\n",
    ]:
        cfg = config(text)
        assert list(cfg.models) == [""]
        assert list(cfg.ops) == ["op1", "op2"]
        assert cfg.find_op(":op1") is cfg.find_op("op1")


def test_config_with_operations_is_not_a_model():
    cfg = config("- operations:\n    op1: x\n  config: foo\n")
    assert cfg.models == {}
    assert cfg.ops == {}


def test_single_op_is_default():
    cfg = config("- operations:\n    test: rundb.pass\n")
    assert cfg.default_op().name == "test"
    assert cfg.find_op("").name == "test"
    assert cfg.find_op(None).name == "test"


def test_default_op_marked():
    cfg = config("train: {main: t, default: yes}\nevaluate: {main: e}\n")
    assert cfg.default_op().name == "train"


def test_no_default_op():
    cfg = config("train: {main: t}\nevaluate: {main: e}\n")
    with pytest.raises(OpError) as e:
        cfg.default_op()
    assert str(e.value) == "cannot find a default operation\nTry 'rundb operations' for a list."


@pytest.mark.parametrize(
    "text,default",
    [
        ("- model: foo\n", "foo"),
        ("- model: foo\n  default: yes\n- model: bar\n", "foo"),
        ("- model: foo\n- model: bar\n  default: yes\n", "bar"),
        ("- model: foo\n- model: bar\n", None),
        ("- config: foo\n", None),
    ],
)
def test_default_model(text, default):
    model = config(text).default_model()
    assert (model.name if model else None) == default


def test_find_op_in_default_model():
    cfg = config(
        """
        - model: a
          default: yes
          operations:
            train: {main: a_train, default: yes}
        - model: b
          operations:
            train: b_train
        """
    )
    assert cfg.find_op("train").fullname == "a:train"
    assert cfg.find_op("b:train").main == "b_train"
    assert cfg.default_op().fullname == "a:train"


def test_anonymous_model_next_to_named_models():
    cfg = config(
        """
        - operations:
            prepare: prepare
        - model: m
          operations:
            train: train
        """
    )
    assert list(cfg.ops) == ["prepare", "m:train"]
    assert cfg.find_op("prepare").fullname == "prepare"
    assert cfg.find_op(":prepare").fullname == "prepare"
    assert cfg.find_op("m:train").fullname == "m:train"


@pytest.mark.parametrize(
    "spec,msg",
    [
        (
            "train",
            "cannot find operation train\n"
            "You may need to include a model in the form MODEL:OPERATION.\n" + HINT,
        ),
        ("logreg:train", "cannot find operation logreg:train\n" + HINT),
        ("m:evaluate", "cannot find operation m:evaluate\n" + HINT),
        (":train", "cannot find operation :train\n" + HINT),
        ("pkg/train", "cannot find operation pkg/train\n" + HINT),
        (
            "a:b:c",
            "cannot find operation a:b:c\n"
            "You may need to include a model in the form MODEL:OPERATION.\n" + HINT,
        ),
    ],
)
def test_cannot_find_operation(spec, msg):
    cfg = config("- model: m\n  operations:\n    prepare: p\n- model: n\n")
    with pytest.raises(OpError) as e:
        cfg.find_op(spec)
    assert str(e.value) == msg


# ---------------------------------------------------------------------------
# operation-defaults, extends, params, $include


def test_operation_defaults():
    cfg = config(
        """
        - model: m
          operation-defaults:
            flags-dest: args
            flags-import: no
            sourcecode: no
            flags:
              f1: 1
              f2: 2
          operations:
            op1: rundb.pass
            op2:
              main: rundb.pass
              flags-import: all
              sourcecode: ['*.py']
              flags: {}
        """
    )
    op1, op2 = cfg.find_op("op1"), cfg.find_op("op2")
    assert op1.flags_dest == "args"
    assert op1.flags_import is False
    assert op1.sourcecode is False
    assert op1.flag_values() == {"f1": 1, "f2": 2}
    assert op2.flags_dest == "args"
    assert op2.flags_import is True
    assert op2.sourcecode == ["*.py"]
    assert op2.flags == {}


def test_operation_defaults_inherited():
    cfg = config(
        """
        - config: base
          operation-defaults:
            flags:
              f1: 1
              f2: 2
        - model: m
          extends: base
          operations:
            op1: rundb.pass
        """
    )
    assert cfg.find_op("op1").flag_values() == {"f1": 1, "f2": 2}


def test_operation_defaults_optimizer_not_mixed_with_op_optimizers():
    cfg = config(
        """
        - model: m
          operation-defaults:
            optimizer: gp
          operations:
            a: a
            b:
              optimizers:
                forest: {}
        """
    )
    assert list(cfg.find_op("a").optimizers) == ["gp"]
    assert list(cfg.find_op("b").optimizers) == ["forest"]


def flags_of(op):
    return [(f.name, f.description, f.default) for f in op.flags.values()]


def test_extends_models():
    cfg = config(
        """
        - model: trainable
          description: A trainable model
          operations:
            train:
              exec: train
              flags:
                batch-size: 32
        - model: evaluatable
          description: An evaluatable model
          operations:
            evaluate:
              exec: train --test
        - model: model-1
          description: A trainable, evaluatable model
          extends: [trainable, evaluatable]
        - model: model-2
          extends: trainable
          operations:
            train:
              flags:
                batch-size: 16
        - model: model-3
          extends: trainable
        """
    )
    m1 = cfg.models["model-1"]
    assert list(m1.operations) == ["evaluate", "train"]
    assert m1.description == "A trainable, evaluatable model"
    assert cfg.find_op("model-1:train").exec == "train"
    assert cfg.find_op("model-1:train").flags["batch-size"].default == 32
    assert cfg.find_op("model-2:train").flags["batch-size"].default == 16
    assert cfg.find_op("model-2:train").exec == "train"
    # The description is inherited, the name and default status are not.
    assert cfg.models["model-3"].description == "A trainable model"
    assert cfg.models["model-3"].name == "model-3"


def test_extends_chain():
    cfg = config(
        """
        - model: a
          operations:
            train:
              exec: train
              flags:
                f1: {description: f1 in a, default: 1}
                f2: {description: f2 in a, default: 2}
                f3: {description: f3 in a, default: 3}
        - model: b
          extends: a
          operations:
            train:
              flags:
                f2: {description: f2 in b, default: 22}
            eval:
              exec: eval
        - model: c
          extends: b
          operations:
            train:
              flags:
                f3: {description: f3 in c, default: 33}
            predict:
              main: predict
        """
    )
    assert flags_of(cfg.find_op("a:train")) == [
        ("f1", "f1 in a", 1), ("f2", "f2 in a", 2), ("f3", "f3 in a", 3),
    ]  # fmt: skip
    assert flags_of(cfg.find_op("b:train")) == [
        ("f1", "f1 in a", 1), ("f2", "f2 in b", 22), ("f3", "f3 in a", 3),
    ]  # fmt: skip
    assert flags_of(cfg.find_op("c:train")) == [
        ("f1", "f1 in a", 1), ("f2", "f2 in b", 22), ("f3", "f3 in c", 33),
    ]  # fmt: skip
    assert list(cfg.models["c"].operations) == ["eval", "predict", "train"]


def test_extends_configs():
    cfg = config(
        """
        - config: a
          operations:
            a_op: {}
        - config: b
          operations:
            b_op: {}
          extends: a
        - config: c
          operations:
            c_op: {}
          extends: a
        - model: m
          extends: [b, c]
        """
    )
    assert list(cfg.ops) == ["m:a_op", "m:b_op", "m:c_op"]


def test_extends_redefines_defaults_with_simple_values():
    cfg = config(
        """
        - model: a
          operations:
            test:
              flags:
                f1: {description: Flag f1, default: 1}
                f2: {description: Flag f2, default: 2}
        - model: b
          extends: a
          operations:
            test:
              flags:
                f1: 3
                f2: 4
        """
    )
    assert flags_of(cfg.find_op("a:test")) == [("f1", "Flag f1", 1), ("f2", "Flag f2", 2)]
    assert flags_of(cfg.find_op("b:test")) == [("f1", "Flag f1", 3), ("f2", "Flag f2", 4)]


@pytest.mark.parametrize(
    "text,msg",
    [
        ("- model: a\n  extends: a\n", "cycle in 'extends' (a -> a)"),
        (
            "- model: a\n  extends: b\n- model: b\n  extends: a\n",
            "cycle in 'extends' (b -> a -> b)",
        ),
        ("- model: a\n  extends: nope\n", "undefined model or config 'nope' in 'extends' of 'a'"),
    ],
)
def test_extends_errors(text, msg):
    assert config_error(text) == f"error in <string>: {msg}"


def test_params():
    cfg = config(
        """
        - model: base
          description: A v{{version}} {{type}} classifier
          params:
            version: 1
        - model: softmax
          extends: base
          params:
            type: softmax
        - model: cnn
          extends: base
          params:
            type: CNN
            version: 2
          operations:
            train:
              main: train --arch {{type}}
              flags:
                n: '{{version}}'
                n_str: n is {{version}}
        """
    )
    assert cfg.models["base"].description == "A v1 {{type}} classifier"
    assert cfg.models["softmax"].description == "A v1 softmax classifier"
    assert cfg.models["cnn"].description == "A v2 CNN classifier"
    train = cfg.find_op("cnn:train")
    assert train.main == "train --arch CNN"
    assert train.flag_values() == {"n": 2, "n_str": "n is 2"}


def test_params_referencing_params():
    cfg = config(
        """
        - config: c1
          params:
            p1: 1
        - config: c2
          extends: c1
          params:
            p2: '{{p1}} 2'
        - model: m
          extends: c2
          params:
            p3: '{{p2}} 3'
          description: Model {{p3}}
        """
    )
    assert cfg.models["m"].description == "Model 1 2 3"


def test_params_cycle_left_as_text():
    cfg = config(
        """
        - config: c1
          params:
            p1: '{{p2}}'
        - config: c2
          extends: c1
          params:
            p2: '{{p1}}'
        - model: m
          extends: c2
          description: Model {{p2}}
        """
    )
    assert cfg.models["m"].description == "Model {{p1}}"


@pytest.mark.parametrize(
    "extends,own,expected",
    [("[a, b]", "", "1"), ("[b, a]", "", "2"), ("[b, a]", "  params: {foo: 3}\n", "3")],
)
def test_params_multiple_inheritance_order(extends, own, expected):
    # The first parent wins, as in Python's method resolution order.
    text = (
        "- config: a\n  params: {foo: 1}\n"
        "- config: b\n  params: {foo: 2}\n"
        f"- model: m\n  extends: {extends}\n{own}  description: foo is {{{{foo}}}}\n"
    )
    assert config(text).models["m"].description == f"foo is {expected}"


def test_include_flags_and_operations():
    cfg = config(
        """
        - config: shared-flags
          flags:
            foo: 123
            bar: 456
        - config: shared-ops
          operations:
            op1: rundb.pass
            op2:
              main: rundb.pass
              flags:
                $include: shared-flags
                bar: 789
        - operations:
            $include: shared-ops
            op:
              main: rundb.pass
              flags:
                $include: shared-flags
        """
    )
    assert list(cfg.ops) == ["op", "op1", "op2"]
    assert cfg.find_op("op").flag_values() == {"bar": 456, "foo": 123}
    assert cfg.find_op("op2").flag_values() == {"bar": 789, "foo": 123}
    assert cfg.find_op("op1").flags == {}


def test_include_undefined():
    assert config_error("op:\n  flags:\n    $include: nope\n") == (
        "error in <string>: undefined model or config 'nope' in '$include'"
    )


# ---------------------------------------------------------------------------
# Op attributes


def test_op_attributes_passed_through():
    o = op(
        """
        op:
          main: train
          flags-import: [lr, epochs]
          flags-import-skip: batch
          flags-dest: global:params
          output-scalars:
            - step: 'step (\\step)'
            - loss: 'loss=(\\value)'
          compare:
            - loss step as step
            - =lr
          objective: {maximize: val_acc}
          label: lr=${lr}
          tags: [a, b]
          env:
            CODE: 11
          env-secrets: [TOKEN]
          sourcecode: ['*.py']
          requires: data
        """
    )
    assert o.flags_import == ["lr", "epochs"]
    assert o.flags_import_skip == ["batch"]
    assert o.flags_dest == "global:params"
    assert o.output_scalars == [{"step": "step (\\step)"}, {"loss": "loss=(\\value)"}]
    assert o.compare == ["loss step as step", "=lr"]
    assert o.objective == {"maximize": "val_acc"}
    assert o.label == "lr=${lr}"
    assert o.tags == ["a", "b"]
    assert o.env == {"CODE": 11}
    assert o.env_secrets == ["TOKEN"]
    assert o.sourcecode == ["*.py"]
    assert [r.to_attr() for r in o.requires] == [{"file": "data", "target": "data", "copy": False}]
    assert o.extra == {}


def test_op_attribute_defaults():
    o = op("op: {main: train}\n")
    assert o.output_scalars is None
    assert o.compare is None
    assert o.objective is None
    assert o.flags_import is None
    assert o.flags_import_skip == []
    assert o.optimizers == {}
    assert o.default_optimizer() is None


@pytest.mark.parametrize(
    "text,expected",
    [
        ("output-scalars: no", False),
        ("output-scalars: {loss: 'loss: (\\value)'}", {"loss": "loss: (\\value)"}),
        ("compare: loss", ["loss"]),
        ("objective: loss", "loss"),
    ],
)
def test_op_scalar_attributes(text, expected):
    o = op(f"op:\n  {text}\n")
    attr = text.split(":")[0].replace("-", "_")
    assert getattr(o, attr) == expected


@pytest.mark.parametrize(
    "value,expected",
    [("yes", True), ("all", True), ("no", False), ("[]", False), ("[a, b]", ["a", "b"])],
)
def test_flags_import(value, expected):
    assert op(f"op:\n  flags-import: {value}\n").flags_import == expected


def test_flags_import_invalid():
    assert config_error("op:\n  flags-import: hello\n") == (
        "error in <string>: invalid flags-import value 'hello': "
        "expected yes/all, no, or a list of flag names"
    )


# ---------------------------------------------------------------------------
# Flag defs


@pytest.mark.parametrize(
    "text,default",
    [
        ("1.123", 1.123),
        ("1", 1),
        ("hello", "hello"),
        ("yes", True),
        ("null", None),
        ("[1,2,3]", [1, 2, 3]),
    ],
)
def test_flagdef_simple_value_is_default(text, default):
    assert flagdef(text).default == default


def test_flagdef_attributes():
    f = op(
        """
        op:
          flags:
            f:
              description: A flag
              default: 1.0
              choices: [1.0, 2.0, 3.0]
              required: yes
              type: float
              arg-name: ff
              arg-skip: yes
              arg-switch: 2.0
              env-name: F_VALUE
              null-label: should never see this
              min: 1.0
              max: 3.0
        """
    ).flags["f"]
    assert f.name == "f"
    assert f.description == "A flag"
    assert f.default == 1.0
    assert f.choices == [1.0, 2.0, 3.0]
    assert f.required is True
    assert f.type == "float"
    assert f.arg_name == "ff"
    assert f.arg_skip is True
    assert f.arg_switch == 2.0
    assert f.env_name == "F_VALUE"
    assert f.null_label == "should never see this"
    assert (f.min, f.max) == (1.0, 3.0)
    assert f.extra == {}


def test_flagdef_extra_attributes():
    f = op(
        """
        op:
          flags:
            f:
              description: A sample
              default: 1
              min: 0
              max: 100
              distribution: log-normal
              mean: 0.0
              sigma: 2.0
              q: 1.0
        """
    ).flags["f"]
    assert f.extra == {"distribution": "log-normal", "mean": 0.0, "q": 1.0, "sigma": 2.0}


def test_flagdef_choice_mappings():
    f = op(
        """
        op:
          flags:
            choice:
              default: a
              choices:
                - value: a
                  description: Choice A
                  flags: {a1: 1, a2: 2}
                - b
        """
    ).flags["choice"]
    assert f.choices == ["a", "b"]
    assert f.choice_descriptions == {"a": "Choice A"}
    assert f.choice_flags == {"a": {"a1": 1, "a2": 2}}
    assert f.flags_for_choice("b") == {}


def test_flagdef_invalid_choices():
    assert config_error("op:\n  flags:\n    foo:\n      choices:\n        a: 1\n") == (
        "error in <string>: invalid flag choice data {'a': 1}: "
        "expected a list of values or mappings"
    )


def test_flagdef_from_data():
    assert FlagDef.from_data("x", 3) == FlagDef(name="x", default=3)
    assert FlagDef.from_data("x", {"type": "int", "foo": 1}).extra == {"foo": 1}
    with pytest.raises(OpError):
        FlagDef.from_data("x", {"choices": "abc"})


# ---------------------------------------------------------------------------
# Flag value coercion (coerce_flag_value)


def coerce(value, **kw):
    return coerce_flag_value(value, FlagDef("test", **kw))


@pytest.mark.parametrize(
    "value,type,expected",
    [
        (1, "float", 1.0),
        ("1", "float", 1.0),
        ("1.1", "float", 1.1),
        ("1e2", "float", 100.0),
        (1, "int", 1),
        ("1", "int", 1),
        (1, "number", 1),
        (1.0, "number", 1.0),
        ("2", "number", 2),
        ("2.5", "number", 2.5),
        (0, "boolean", False),
        (1, "boolean", True),
        ("", "boolean", False),
        ("hi", "boolean", True),
        ("false", "boolean", True),
        (1, "string", "1"),
        (True, "string", "yes"),
        ("a", "string", "a"),
        ([1, 1.0], "number", [1, 1.0]),
        (["1", 2], "float", [1.0, 2.0]),
        (None, "float", None),
        ("abc", None, "abc"),
        ("abc", "unknown-type", "abc"),
        ("[1:2]", "int", "[1:2]"),
        ("uniform[0.1:0.9]", "float", "uniform[0.1:0.9]"),
        ("loguniform[1e-4:1e-1]", "int", "loguniform[1e-4:1e-1]"),
    ],
)
def test_coerce_flag_value(value, type, expected):
    result = coerce(value, type=type)
    assert result == expected
    assert [x.__class__ for x in _as_list(result)] == [x.__class__ for x in _as_list(expected)]


def _as_list(x):
    return x if isinstance(x, list) else [x]


def test_coerce_float_nan():
    assert math.isnan(coerce("nan", type="float"))


@pytest.mark.parametrize(
    "value,type",
    [
        ("invalid", "float"),
        (True, "float"),
        (1.0, "int"),
        ("1.0", "int"),
        ("invalid", "int"),
        ("invalid", "number"),
        ([1, 1.0, "invalid"], "number"),
    ],
)
def test_coerce_flag_value_errors(value, type):
    with pytest.raises(FlagError) as e:
        coerce(value, type=type)
    assert str(e.value) == f"invalid value for type '{type}'"


def test_coerce_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert coerce("~/data", type="path") == str(tmp_path / "data")
    assert coerce(str(tmp_path), type="existing-path") == str(tmp_path)
    with pytest.raises(FlagError) as e:
        coerce("~/missing", type="existing-path")
    assert str(e.value) == "invalid value for type 'existing-path'"


# ---------------------------------------------------------------------------
# Flag values for a run (OpDef.coerce_flags)


def test_coerce_flags_op_without_flags():
    o = op("op: { main: rundb.pass }\n")
    assert o.coerce_flags({}) == {}
    # An op that defines no flags takes any flags.
    assert o.coerce_flags({"foo": 123}) == {"foo": 123}


def test_unsupported_flag():
    o = op("op:\n  main: op\n  flags:\n    b: 1\n    a: 2\n    c: 3\n")
    with pytest.raises(FlagError) as e:
        o.coerce_flags({"msg": "hi"})
    assert str(e.value) == (
        "unsupported flag 'msg'\n"
        "Try 'rundb run op --help-op' for a list of flags or use "
        "--force-flags to skip this check.\n"
        "Valid flags: a, b, c"
    )
    assert o.coerce_flags({"msg": "hi"}, force=True) == {"a": 2, "b": 1, "c": 3, "msg": "hi"}


def test_unsupported_flag_names_model():
    o = op("- model: m5\n  operations:\n    steps:\n      flags: {x: 1}\n", "m5:steps")
    with pytest.raises(FlagError) as e:
        o.coerce_flags({"op:msg": "hi"})
    assert str(e.value).splitlines()[:2] == [
        "unsupported flag 'op:msg'",
        "Try 'rundb run m5:steps --help-op' for a list of flags or use "
        "--force-flags to skip this check.",
    ]


REQUIRED = """
op:
  main: rundb.pass
  flags:
    required-no-default:
      required: yes
    required-with-default:
      required: yes
      default: 123
"""


def test_missing_required_flag():
    o = op(REQUIRED)
    with pytest.raises(FlagError) as e:
        o.coerce_flags({})
    assert str(e.value) == "missing required flag 'required-no-default'"
    assert o.coerce_flags({}, force=True) == {
        "required-no-default": None, "required-with-default": 123,
    }  # fmt: skip
    assert o.coerce_flags({"required-no-default": "x"}) == {
        "required-no-default": "x", "required-with-default": 123,
    }  # fmt: skip


def test_missing_required_flags():
    o = op("op:\n  flags:\n    a: {required: yes}\n    b: {required: yes}\n")
    with pytest.raises(FlagError) as e:
        o.coerce_flags({})
    assert str(e.value) == "missing required flags 'a', 'b'"


def test_coerce_flags_types():
    o = op("op:\n  main: m\n  flags:\n    float:\n      type: float\n")
    with pytest.raises(FlagError) as e:
        o.coerce_flags({"float": "abc"})
    assert str(e.value) == "invalid value for type 'float' in flag 'float': 'abc'"
    assert o.coerce_flags({"float": "abc"}, force=True) == {"float": "abc"}
    assert o.coerce_flags({"float": "1.123"}) == {"float": 1.123}
    assert o.coerce_flags({}) == {"float": None}


def test_coerce_flags_list_names_bad_element():
    o = op("op:\n  flags:\n    n: {type: int}\n")
    assert o.coerce_flags({"n": [1, "2"]}) == {"n": [1, 2]}
    with pytest.raises(FlagError) as e:
        o.coerce_flags({"n": [1, 2.5]})
    assert str(e.value) == "invalid value for type 'int' in flag 'n': 2.5"


def test_coerce_flags_defaults():
    assert op("op:\n  flags:\n    float: {default: 1.123, type: float}\n").coerce_flags({}) == {
        "float": 1.123
    }
    o = op("op:\n  flags:\n    float: {default: abc, type: float}\n")
    with pytest.raises(FlagError) as e:
        o.coerce_flags({})
    assert str(e.value) == "invalid value for type 'float' in flag 'float': 'abc'"


COLOR = """
op:
  main: m
  flags:
    color:
      default: red
      choices: [red, blue, green]
"""

UNSUPPORTED_COLOR = """\
Unsupported value for 'color' - supported values are:

  red
  blue
  green

Run the command again using one of these options."""


def test_flag_choices():
    o = op(COLOR)
    assert o.coerce_flags({}) == {"color": "red"}
    assert o.coerce_flags({"color": "green"}) == {"color": "green"}
    with pytest.raises(FlagError) as e:
        o.coerce_flags({"color": "yellow"})
    assert str(e.value) == UNSUPPORTED_COLOR
    assert o.coerce_flags({"color": "yellow"}, force=True) == {"color": "yellow"}


def test_flag_choices_lists_check_each_value():
    o = op(COLOR)
    assert o.coerce_flags({"color": ["red", "blue"]}) == {"color": ["red", "blue"]}
    with pytest.raises(FlagError) as e:
        o.coerce_flags({"color": ["red", "yellow"]})
    assert str(e.value) == UNSUPPORTED_COLOR


def test_flag_choices_skip_search_specs_and_allow_other():
    o = op("op:\n  flags:\n    lr: {default: 0.1, type: float, choices: [0.1, 0.2]}\n")
    assert o.coerce_flags({"lr": "[0.01:0.5]"}) == {"lr": "[0.01:0.5]"}
    assert o.coerce_flags({"lr": "loguniform[1e-4:1e-1]"}) == {"lr": "loguniform[1e-4:1e-1]"}
    assert o.coerce_flags({"lr": "0.2"}) == {"lr": 0.2}
    o = op("op:\n  flags:\n    x:\n      choices: [a, b]\n      allow-other: yes\n")
    assert o.coerce_flags({"x": "c"}) == {"x": "c"}


def test_flag_choice_null_default_is_not_checked():
    o = op("op:\n  flags:\n    x:\n      choices: [a, b]\n")
    assert o.coerce_flags({}) == {"x": None}


CHOICE_FLAGS = """
op:
  main: rundb.pass
  flags:
    choice:
      default: a
      choices:
        - value: a
          flags:
            a1: 1
            a2: 2
        - value: b
          flags:
            b1: foo
            b2: bar
    a1: null
    b2: bam
"""


@pytest.mark.parametrize(
    "user,expected",
    [
        ({}, {"a1": 1, "a2": 2, "b2": "bam", "choice": "a"}),
        ({"choice": "a"}, {"a1": 1, "a2": 2, "b2": "bam", "choice": "a"}),
        ({"choice": "b"}, {"a1": None, "b1": "foo", "b2": "bar", "choice": "b"}),
        ({"choice": "b", "b2": "foo"}, {"a1": None, "b1": "foo", "b2": "foo", "choice": "b"}),
    ],
)
def test_choice_flags(user, expected):
    assert op(CHOICE_FLAGS).coerce_flags(user) == expected


@pytest.mark.parametrize(
    "value,msg",
    [
        (0, "value 0 for flag 'x' is out of range (less than min 1)"),
        (11, "value 11 for flag 'x' is out of range (greater than max 10)"),
        ([5, 11], "value 11 for flag 'x' is out of range (greater than max 10)"),
    ],
)
def test_flag_range(value, msg):
    o = op("op:\n  flags:\n    x: {default: 5, min: 1, max: 10}\n")
    assert o.coerce_flags({"x": 10}) == {"x": 10}
    with pytest.raises(FlagError) as e:
        o.coerce_flags({"x": value})
    assert str(e.value) == msg
    assert o.coerce_flags({"x": value}, force=True) == {"x": value}


def test_merge_flags():
    cfg = config("a:\n  exec: a\n  flags: {x: X1, y: Y}\nb:\n  exec: b\n  flags: {x: X2, z: Z}\n")
    a, b = cfg.find_op("a"), cfg.find_op("b")
    a.merge_flags(b)
    assert list(a.flags) == ["x", "y", "z"]
    assert a.flag_values() == {"x": "X1", "y": "Y", "z": "Z"}
    assert b.flag_values() == {"x": "X2", "z": "Z"}


def test_opdef_built_in_code():
    # Script ops are built without a rundb.yml.
    o = OpDef(name="train.py", flags={"lr": FlagDef(name="lr", default=0.1, type="float")})
    assert o.fullname == "train.py"
    assert o.coerce_flags({"lr": 1}) == {"lr": 1.0}


# ---------------------------------------------------------------------------
# Optimizers


def test_optimizer_string():
    o = op("test:\n  optimizer: gp\n", "test")
    assert o.optimizers == {"gp": {"algorithm": "gp"}}
    assert o.optimizer_default is None
    # A single optimizer is always the default.
    assert o.default_optimizer_name() == "gp"
    assert o.default_optimizer() == {"algorithm": "gp"}


def test_optimizer_mapping():
    o = op("test:\n  optimizer:\n    algorithm: gp\n", "test")
    assert o.optimizers == {"gp": {"algorithm": "gp"}}
    o = op(
        """
        test:
          optimizer:
            algorithm: gp
            default: yes
            random-starts: 3
            kappa: 1.8
            noise: 0.1
        """,
        "test",
    )
    assert o.optimizer_default == "gp"
    assert o.default_optimizer() == {
        "algorithm": "gp", "kappa": 1.8, "noise": 0.1, "random-starts": 3,
    }  # fmt: skip


def test_optimizer_missing_algorithm():
    assert config_error("test:\n  optimizer: {}\n") == (
        "error in <string>: missing required 'algorithm' attribute in {}"
    )


def test_optimizers_lowest_name_is_default():
    o = op(
        """
        test:
          optimizers:
            gp-2:
              algorithm: gp
              kappa: 1.8
            gp-1:
              algorithm: gp
              kappa: 1.6
        """,
        "test",
    )
    assert list(o.optimizers) == ["gp-1", "gp-2"]
    assert o.optimizers["gp-2"] == {"algorithm": "gp", "kappa": 1.8}
    assert o.default_optimizer_name() == "gp-1"
    assert o.default_optimizer() == {"algorithm": "gp", "kappa": 1.6}


def test_optimizers_marked_default_and_name_as_algorithm():
    o = op(
        """
        test:
          optimizers:
            gp:
              kappa: 1.6
              noise: 0.1
            forest:
              default: yes
              kappa: 1.8
        """,
        "test",
    )
    assert o.optimizers == {
        "forest": {"algorithm": "forest", "kappa": 1.8},
        "gp": {"algorithm": "gp", "kappa": 1.6, "noise": 0.1},
    }
    assert o.default_optimizer_name() == "forest"


def test_optimizers_string_values_rename_algorithms():
    o = op("test:\n  optimizers:\n    bayesian: skopt:gp\n    experimental: tune\n", "test")
    assert o.optimizers == {
        "bayesian": {"algorithm": "skopt:gp"},
        "experimental": {"algorithm": "tune"},
    }
    assert o.default_optimizer_name() == "bayesian"


def test_conflicting_optimizers():
    assert config_error("test:\n  optimizer: gp\n  optimizers:\n    gp-2: gp\n") == (
        "error in <string>: conflicting optimizer configuration in operation 'test' "
        "- cannot define both 'optimizer' and 'optimizers'"
    )


# ---------------------------------------------------------------------------
# Op specs


@pytest.mark.parametrize(
    "spec,expected",
    [
        (None, (None, None)),
        ("", (None, None)),
        ("op", (None, "op")),
        (":op", ("", "op")),
        ("model:op", ("model", "op")),
        ("package/op", ("package/", "op")),
        ("package/:op", ("package/", "op")),
        ("package/model:op", ("package/model", "op")),
    ],
)
def test_parse_opspec(spec, expected):
    assert parse_opspec(spec) == expected


@pytest.mark.parametrize("spec", ["a:b:c", "a/b/c", "a:b/c", "a/b:c:d", "a/b:c/d", "a:b/c:d", "m:"])
def test_parse_opspec_invalid(spec):
    with pytest.raises(OpError) as e:
        parse_opspec(spec)
    assert str(e.value) == f"invalid operation spec '{spec}'"


def test_exec_as_list():
    assert op("op:\n  exec: [python, -c, 'print(1)']\n").exec == "python -c 'print(1)'"
