"""Property-based tests over every registered experiment's config (issue #10).

The strategies are derived from the parameter declarations (bounds, Selector objects,
List item types and bounds) and the values the presets use, so a new experiment or
parameter is covered without a change here:

- random valid configs (a few parameters moved away from the ``smoke`` preset, sizes
  kept near it) run their first records with finite scalars, or are refused up front
  with a ConfigError naming a parameter, or stop with the NonFiniteError hint;
- random invalid values (out of range, wrong type, non-finite, oversized, malformed
  lists, empty text) through ``set_checked``, ``--set`` and the URL are refused with a
  one-line ConfigError naming the parameter, and nothing else happens.

Examples are derandomized (the same in CI) and bounded (``max_examples``).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import urllib.parse

import param
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orthoviz import cli
from orthoviz.runtime import ConfigError, get_experiment, list_experiments
from orthoviz.runtime.errors import NonFiniteError
from orthoviz.runtime.params import _FALSE, _TRUE, set_checked, user_parameters

EXPERIMENTS = list_experiments()
BOUNDED = settings(deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow])


def bounded(n: int) -> settings:
    return settings(BOUNDED, max_examples=n)
BASE = "smoke"
RECORDS = 3  # records taken from each valid run


def seen(cls, name: str) -> list:
    """The parameter's default and every preset's value for it (distinct)."""
    values = [cls.param[name].default] + [p[name] for p in cls.presets.values() if name in p]
    out = {json.dumps(v, sort_keys=True, default=str): v for v in values}
    return list(out.values())


def _range(p: param.Number) -> tuple:
    lo, hi = p.bounds or (None, None)
    soft = getattr(p, "softbounds", None) or (None, None)
    lo = soft[0] if soft[0] is not None else lo
    hi = soft[1] if soft[1] is not None else hi
    return lo, hi


# -- valid values ---------------------------------------------------------------------
def valid_value(cls, name: str) -> st.SearchStrategy:
    """Values the declaration allows, kept near the smoke preset's sizes (integers at
    most its value, numbers at most twice the largest preset value) so that a run's
    first records take well under a second."""
    p, pool = cls.param[name], seen(cls, name)
    base = cls.presets[BASE].get(name, p.default)
    if isinstance(p, param.Boolean):
        return st.booleans()
    if isinstance(p, param.Selector):
        return st.sampled_from(p.objects)
    if isinstance(p, param.Integer):
        lo, hi = _range(p)
        lo = 0 if lo is None else int(lo)
        if name not in cls.presets[BASE] and lo > 0:  # not sized by smoke: its small end
            base = min(int(base), lo)
        cap = max(int(base), lo + 4)  # sizes may be O(n^3) (an eigendecomposition)
        return st.integers(lo, cap if hi is None else min(int(hi), cap))
    if isinstance(p, param.Number):
        lo, hi = _range(p)
        inc_lo, inc_hi = getattr(p, "inclusive_bounds", (True, True))
        cap = 2 * max(abs(float(base)), *(abs(float(v)) for v in pool)) or 1.0
        hi = cap if hi is None else min(float(hi), cap)
        lo = 0.0 if lo is None else float(lo)
        drawn = st.floats(lo, hi, exclude_min=not inc_lo, exclude_max=not inc_hi and
                          hi == p.bounds[1], allow_nan=False, allow_infinity=False)
        return st.one_of(st.sampled_from(pool), drawn)
    if isinstance(p, param.List):
        return st.one_of(st.sampled_from(pool), _list_of(p, pool))
    return st.sampled_from(pool)  # text (paths, weights): only what the presets use


def _list_of(p: param.List, pool: list) -> st.SearchStrategy:
    items = [x for v in pool for x in v]
    lo, hi = p.bounds or (0, None)
    longest = max((len(v) for v in pool), default=1) + 1
    size = {"min_size": max(lo or 0, 1 if items else 0),
            "max_size": min(hi if hi is not None else longest, longest)}
    if p.item_type is str:
        return st.lists(st.sampled_from(sorted(set(items))), unique=True, **size)
    top = max((abs(x) for x in items), default=4)
    if p.item_type is int:
        return st.lists(st.integers(1, max(2, 2 * int(top))), **size)
    return st.lists(st.floats(min(items, default=0.0) / 2 or 1e-3, 2 * top,
                              allow_nan=False), **size)


def overrides(cls) -> st.SearchStrategy:
    names = sorted(user_parameters(cls))
    return st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({n: valid_value(cls, n) for n in chosen}))


@pytest.mark.parametrize("key", EXPERIMENTS)
def test_random_valid_configs_run_with_finite_records_or_are_refused(key):
    cls = get_experiment(key)
    outcomes = {"ran": 0, "refused": 0, "nonfinite": 0}

    @bounded(12)
    @given(overrides(cls))
    def one(values):
        exp = cls.from_preset(BASE, **values)  # every value is allowed on its own
        try:
            stream = exp.run(seed=0, device="cpu")
        except ConfigError as e:  # a cross-parameter rule or the memory guard
            assert e.parameter in user_parameters(cls), e
            assert "\n" not in str(e)
            outcomes["refused"] += 1
            return
        records = []
        try:
            for rec in stream:
                records.append(rec)
                if len(records) == RECORDS:
                    break
        except NonFiniteError as e:  # the run stops with what to lower
            assert e.hint and e.metric in cls.finite_metrics, e
            outcomes["nonfinite"] += 1
            return
        finally:
            stream.close()
        assert records
        for rec in records:
            assert rec.phase != "failed", rec.notes
            bad = {k: v for k, v in rec.scalars.items() if not math.isfinite(v)}
            assert not bad, (values, rec.step, bad)
        outcomes["ran"] += 1

    one()
    total = sum(outcomes.values())
    # most random configs near the smoke preset are runnable: a strategy that only
    # produced refusals would test nothing
    assert outcomes["ran"] >= total / 2, outcomes


# -- invalid values -------------------------------------------------------------------
NONFINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400"]
HUGE = ["9" * 5000, "-" + "9" * 5000, "1" + "0" * 400]
JUNK = ["abc", "[1]", "{}", "null", "1 2", "0x10", "[", "]", "\x00", "1;2", "x" * 100_000]


def _out_of_range(p: param.Number, integer: bool) -> st.SearchStrategy:
    lo, hi = p.bounds or (None, None)
    inc_lo, inc_hi = getattr(p, "inclusive_bounds", (True, True))
    out = []
    if lo is not None:
        below = st.integers(-10**6, math.ceil(lo) - 1) if integer else st.floats(
            -1e300, lo, exclude_max=inc_lo, allow_nan=False, allow_infinity=False)
        out.append(below)
    if hi is not None:
        above = st.integers(math.floor(hi) + 1, 10**30) if integer else st.floats(
            hi, 1e300, exclude_min=inc_hi, allow_nan=False, allow_infinity=False)
        out.append(above)
    return st.one_of(*out).map(repr) if out else st.nothing()


def listed_invalid(p: param.Parameter) -> list[str]:
    """Text (as on the command line or in a URL) every such parameter must refuse:
    non-finite, huge, wrong-type, malformed and empty values."""
    if isinstance(p, param.Boolean):
        return ["2", "yes please", "", "null", *NONFINITE, *JUNK]
    if isinstance(p, param.Selector):
        return [t for t in ["", " ", "NONE", *NONFINITE, *JUNK, *HUGE]
                if t not in {str(o) for o in p.objects}]
    if isinstance(p, param.Integer):
        return ["", "1.5", "true", "1e-3", *NONFINITE, *HUGE, *JUNK]
    if isinstance(p, param.Number):
        return ["", "true", "1e-3x", *NONFINITE, *JUNK]
    if isinstance(p, param.List):
        return _invalid_lists(p)
    return []  # free text is valid text


def random_invalid(p: param.Parameter) -> st.SearchStrategy:
    """Random refused text: out-of-range numbers, random words."""
    if isinstance(p, param.Boolean):
        return st.text(max_size=20).filter(lambda s: s.strip().lower() not in _TRUE | _FALSE)
    if isinstance(p, param.Selector):
        return st.text(max_size=30).filter(lambda s: s not in {str(o) for o in p.objects})
    if isinstance(p, param.Number):
        return _out_of_range(p, isinstance(p, param.Integer))
    if isinstance(p, param.List):
        return st.sampled_from(_invalid_lists(p))
    return st.nothing()


def _invalid_lists(p: param.List) -> list[str]:
    lo, hi = p.bounds or (0, None)
    good = {int: "1", float: "0.5", str: '"a"'}[p.item_type]
    wrong = {int: ["1.5", '"a"', "true", "[1]", "1e400", "9" * 5000],
             float: ['"a"', "true", "[1]", "NaN", "1e400", "-Infinity", "null"],
             str: ["1", "null", "[]", "{}", "true"]}[p.item_type]
    texts = ["1,,2", "1,2,", ",", "[1,", "[", "{\"a\": 1}", "[1]]", "[" * 3000, "[null]",
             "[[1]]", *(f"[{good}, {w}]" for w in wrong)]
    if hi is not None:  # one item too many
        texts.append("[" + ", ".join([good] * (hi + 1)) + "]")
    if lo:
        texts += ["", "[]"]
    return texts


def refusable(cls) -> list[str]:
    return [n for n, p in sorted(user_parameters(cls).items()) if listed_invalid(p)]


def invalid_params(cls) -> st.SearchStrategy:
    """(name, text) pairs: a listed or a random refused value of any parameter."""
    return st.sampled_from(refusable(cls)).flatmap(lambda n: st.tuples(
        st.just(n), st.one_of(st.sampled_from(listed_invalid(cls.param[n])),
                              random_invalid(cls.param[n]))))


def python_invalid(p: param.Parameter) -> st.SearchStrategy:
    """Python values (a notebook's ``set``) of the wrong type or not finite."""
    common = [None, object(), {"a": 1}, float("nan"), float("inf")]
    if isinstance(p, param.List):
        return st.sampled_from(common + [5, [float("nan")], [[1]], [None]])
    if isinstance(p, param.String) and not isinstance(p, param.Selector):
        return st.sampled_from([5, 1.5, ["a"], None])
    return st.sampled_from(common + [[1], "\x00"])


def refused(exp, name: str, value) -> ConfigError:
    """``value`` is refused naming ``name``, leaving the config as it was. The words of
    a list of names (solvers, models) are checked with the other parameters (the
    experiment's ``validate``), so there the refusal may come from ``check``."""
    before, p = getattr(exp, name), exp.param[name]
    with pytest.raises(ConfigError) as e:
        if isinstance(p, param.List) and p.item_type is str:
            probe = type(exp).from_config(exp.config())
            set_checked(probe, name, value)
            probe.check(device="cpu")
        else:
            set_checked(exp, name, value)
    msg = str(e.value)
    assert f"'{name}'" in msg and "allowed" in msg and "\n" not in msg and len(msg) < 600
    assert json.dumps(getattr(exp, name), default=str) == json.dumps(before, default=str)
    return e.value


@pytest.mark.parametrize("key", EXPERIMENTS)
def test_random_invalid_values_raise_config_error_naming_the_parameter(key):
    cls = get_experiment(key)
    exp = cls.from_preset(BASE)

    for name in refusable(cls):  # every listed value of every parameter
        for text in listed_invalid(cls.param[name]):
            refused(exp, name, text)

    @bounded(40)
    @given(invalid_params(cls))
    def text(item):
        refused(exp, *item)

    @bounded(30)
    @given(st.sampled_from(sorted(user_parameters(cls))).flatmap(
        lambda n: st.tuples(st.just(n), python_invalid(cls.param[n]))))
    def python(item):
        if item[1] is None and cls.param[item[0]].allow_None:
            return
        refused(exp, *item)

    text()
    python()


@pytest.mark.parametrize("key", EXPERIMENTS)
def test_random_invalid_set_options_exit_2_with_one_line(key, tmp_path):
    cls = get_experiment(key)

    @bounded(25)
    @given(st.one_of(invalid_params(cls).map(lambda it: (it[0], f"{it[0]}={it[1]}")),
                     st.text(max_size=15).filter(lambda s: "=" not in s).map(
                         lambda s: ("--set", s))))
    def one(item):
        name, option = item
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = cli.main(["run", key, "--preset", BASE, "--set", option, "--out",
                           str(tmp_path), "--no-progress", "--device", "cpu"])
        lines = err.getvalue().strip().splitlines()
        assert rc == 2 and len(lines) == 1 and f"'{name}'" in lines[0], (option, lines)
        assert not any(tmp_path.iterdir()), "a refused run writes nothing"

    one()


@pytest.mark.parametrize("key", EXPERIMENTS)
def test_random_invalid_url_values_are_reported_and_the_rest_applied(key):
    """A session's URL values (no browser: the function the explorer applies its
    query with): each invalid value is reported by name and leaves its parameter as it
    was; a valid value next to it is applied."""
    pytest.importorskip("panel")
    from orthoviz.ui.urlstate import apply_config_query

    cls = get_experiment(key)
    names = list(user_parameters(cls))

    @bounded(25)
    @given(invalid_params(cls), st.sampled_from(names).flatmap(
        lambda n: st.tuples(st.just(n), valid_value(cls, n))))
    def one(bad, good):
        if good[0] == bad[0]:
            return
        exp = cls.from_preset(BASE)
        before = json.dumps(getattr(exp, bad[0]), default=str)
        text = good[1] if isinstance(good[1], str) else json.dumps(good[1])
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlencode(
            {good[0]: text, bad[0]: bad[1]}), keep_blank_values=True))
        errors = apply_config_query(exp, query)
        assert len(errors) == 1 and f"'{bad[0]}'" in errors[0], errors
        assert json.dumps(getattr(exp, bad[0]), default=str) == before
        assert getattr(exp, good[0]) == good[1]

    one()


def path_parameters() -> list[tuple[str, str]]:
    """(experiment, name) of every free-text parameter: each names a path (a data
    folder, a run folder reference), checked when the config is checked."""
    return [(k, n) for k in EXPERIMENTS for n, p in user_parameters(get_experiment(k)).items()
            if isinstance(p, param.String) and not isinstance(p, param.Selector)]


#: path text the system cannot take (NUL, over PATH_MAX, a 300-character part) or that
#: leads anywhere (.., absolute paths out); 4097 characters: one over PATH_MAX
BAD_PATHS = ["a\x00b", "\x00", "x" * 100_000, "x" * 4097, "y" * 300, "y" * 300 + "/z",
             "../" * 50, "/etc", "/etc/passwd", "~/" + "q" * 300, "a/" * 2100]


@pytest.mark.parametrize("key,name", path_parameters(),
                         ids=[f"{k}-{n}" for k, n in path_parameters()])
@pytest.mark.parametrize("served", [False, True], ids=["library", "served"])
def test_path_parameters_refuse_bad_text_at_check_with_config_error(key, name, served,
                                                                    tmp_path, monkeypatch):
    """Free text is taken as set and checked with the config (``check``, before a run
    starts): text no folder can have is a one-line ConfigError naming the parameter,
    never an OSError or ValueError from the file system; with a server's roots set,
    the same."""
    from orthoviz.datasets import DATA_ROOT_ENV
    from orthoviz.runtime.artifacts import RUNS_ROOT_ENV

    if served:
        monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / "data"))
        monkeypatch.setenv(RUNS_ROOT_ENV, str(tmp_path / "runs"))
    cls = get_experiment(key)

    def checked(text: str) -> ConfigError | None:
        exp = cls.from_preset(BASE)
        for dep, allowed in cls.when.get(name, {}).items():  # make the parameter count
            set_checked(exp, dep, next(a for a in allowed if a != "digits"))
        set_checked(exp, name, text)
        try:
            exp.check(0, "cpu")
        except ConfigError as e:
            msg = str(e)
            assert f"'{name}'" in msg and "\n" not in msg and len(msg) < 600, msg
            return e
        return None

    for text in BAD_PATHS:
        assert checked(text) is not None, repr(text[:40])

    @bounded(40)
    @given(st.text(max_size=300))
    def anything(text):
        checked(text)  # refused with the clear error, or taken: nothing else

    anything()


def test_random_explorer_url_values_are_refused_by_name_and_change_nothing():
    """The explorer's own URL keys (preset, device, seed), as a link carries them: a
    refused value is one message naming its key and leaves the explorer as it was;
    nothing else is raised."""
    pytest.importorskip("panel")
    from orthoviz.ui.explorer import Explorer
    from orthoviz.ui.urlstate import EXPLORER_KEYS, apply_query

    ex = Explorer("neural-collapse", preset="smoke")
    presets = set(ex.experiment_cls.presets)
    listed = ["", " ", "-1", "1.5", "1e400", "nan", "inf", "9" * 5000, "cuda:99", "[0]",
              "smoke ", "\x00", "<script>", "default;rm -rf /", "2**64"]

    def one(key: str, text: str) -> None:
        before = {k: getattr(ex, k) for k in EXPLORER_KEYS}
        errors = apply_query(ex, urllib.parse.urlencode({key: text}))
        after = {k: getattr(ex, k) for k in EXPLORER_KEYS}
        if errors:
            [msg] = errors
            assert f"'{key}'" in msg and "\n" not in msg and len(msg) < 600, msg
            assert after == before
        else:  # taken: a preset by name, a device this machine has, a seed in range
            assert key != "preset" or text in presets
            assert key != "seed" or 0 <= ex.seed == int(text)

    for key in EXPLORER_KEYS:
        for text in listed:
            one(key, text)

    @bounded(60)
    @given(st.sampled_from(EXPLORER_KEYS), st.one_of(
        st.text(max_size=40), st.integers().map(str), st.floats().map(str)))
    def anything(key, text):
        one(key, text)

    anything()
