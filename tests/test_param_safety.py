"""Crafted values refused at validation with the parameter named: NaN and infinities
anywhere (inside lists too), 1e400 for integers, empty and malformed lists; from
``--set``, from the URL and the widgets (values set on the config directly)."""

from __future__ import annotations

import math

import pytest

from orthoviz import cli
from orthoviz.runtime import ConfigError, get_experiment
from orthoviz.runtime.params import check_finite, nonfinite

NC, RF = "neural-collapse", "random-features"
BAD = [
    (NC, "layer_decays", "[NaN,NaN]"), (NC, "layer_decays", "[1e400, 1]"),
    (NC, "lr", "nan"), (NC, "lr", "-inf"), (NC, "lr", "1e400"), (NC, "momentum", "Infinity"),
    (NC, "depth", "inf"), (NC, "depth", "1e400"), (NC, "steps", "9" * 400),
    (NC, "class_sizes", "[null]"), (NC, "class_sizes", "[1, [2]]"),
    (NC, "layer_decays", '{"a": 1}'),
    (RF, "ridges", "[]"), (RF, "ridges", "["), (RF, "ridges", "[1,"), (RF, "ridges", "[NaN]"),
    (RF, "sweep_values", "[true]"), (RF, "sweep_values", "[1.5]"),
    (RF, "sweep_values", "[1e400]"), (RF, "sweep_values", ""),
]


@pytest.mark.parametrize("key, name, text", BAD)
def test_text_values_are_refused_naming_the_parameter(key, name, text):
    with pytest.raises(ConfigError, match=f"'{name}'") as e:
        get_experiment(key).from_preset("smoke", **{name: text})
    assert "allowed" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, [0.1, math.nan], [math.inf]])
def test_python_values_are_refused_too(value):
    exp = get_experiment(NC).from_preset("smoke")
    name = "layer_decays" if isinstance(value, list) else "lr"
    with pytest.raises(ConfigError, match=f"'{name}'.*finite"):
        exp.set(**{name: value})


def test_nonfinite_finds_values_in_nested_containers():
    assert not nonfinite([1, 2.5, "nan", {"a": [1e300]}])
    assert nonfinite({"a": [1, (2, math.nan)]}) and nonfinite(float("-inf"))
    exp = get_experiment(NC).from_preset("smoke")
    check_finite(exp)
    exp.param.update(layer_decays=[math.nan, math.nan], depth=2)  # as the URL sync does
    with pytest.raises(ConfigError, match="'layer_decays'"):
        check_finite(exp)


def test_set_on_the_command_line_exits_2_with_one_line(tmp_path, capsys):
    rc = cli.main(["run", NC, "--preset", "smoke", "--set", "layer_decays=[NaN,NaN]",
                   "--set", "depth=2", "--out", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "'layer_decays'" in err[0], err
    assert not any(tmp_path.iterdir()), "a refused run writes nothing"


def test_values_from_the_url_or_widgets_are_refused_at_start():
    """URL sync and widgets set the config without set_checked: Start refuses, names
    the parameter, and starts nothing (the page does not stay at "running")."""
    pytest.importorskip("panel")
    from orthoviz.ui import Explorer

    e = Explorer(NC, preset="smoke")
    e.config.param.update(depth=2, layer_decays=[math.nan, math.nan])
    assert e.start() is False
    assert e.status == "failed" and "'layer_decays'" in e.message and e.runner is None
    # (a bounded number refuses NaN in param itself: the URL sync reports it at once)
    with pytest.raises(ValueError, match="lr"):
        e.config.lr = math.nan
    r = Explorer(RF, preset="smoke")
    r.config.ridges = [0.1, math.inf]
    assert r.start() is False and "'ridges'" in r.message and r.runner is None


def test_a_session_reads_its_url_value_by_value():
    """One bad URL value does not drop the good ones next to it (Panel's
    ``location.sync`` applies a query in one update), a 5000-digit number does not
    break the session, each refused value is named, and the URL written back holds
    only accepted values."""
    pytest.importorskip("panel")
    from panel.io.location import Location

    from orthoviz.ui import Explorer
    from orthoviz.ui.urlstate import sync_url

    e = Explorer(NC, preset="smoke")
    loc = Location(search="?depth=3&lr=nan&layer_decays=1,,2&seed=7&steps=" + "9" * 5000)
    errors = sync_url(e, loc)
    assert (e.config.depth, e.seed) == (3, 7)  # smoke has depth 2
    assert (e.config.lr, e.config.layer_decays) == (0.1, [])  # the smoke values
    assert [n for n in ("lr", "layer_decays", "steps") if any(f"'{n}'" in x for x in errors)] \
        == ["lr", "layer_decays", "steps"]
    assert len(errors) == 3 and all(len(x) < 500 for x in errors)  # 5000 digits cut
    assert "lr=nan" not in loc.search and "depth=3" in loc.search and "9999" not in loc.search



def test_empty_text_is_the_unset_list_and_an_empty_item_is_refused():
    """``--set class_sizes=`` is the empty list, which means "not set" (documented in
    the parameters' doc); ``1,,2`` was read as [1, 2] before and is refused now."""
    cls = get_experiment(NC)
    exp = cls.from_preset("smoke", class_sizes="", layer_decays="")
    assert exp.class_sizes == [] and exp.layer_decays == []
    assert exp.sizes() == cls.from_preset("smoke").sizes()
    assert "empty: not set" in cls.param.class_sizes.doc
    for bad in ("1,,2", "1,2,", ",", " , 1"):
        with pytest.raises(ConfigError, match="'layer_decays'"):
            cls.from_preset("smoke", depth=2, layer_decays=bad)
    with pytest.raises(ConfigError, match="'ridges'"):  # at least one item
        get_experiment(RF).from_preset("smoke", ridges="")
