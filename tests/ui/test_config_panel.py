"""The configuration card, the preset's run time and the device plan (no browser)."""

from __future__ import annotations

import pytest

pn = pytest.importorskip("panel")

from orthoviz.runtime import get_experiment, list_experiments  # noqa: E402
from orthoviz.runtime.device import GPU_MIN_ELEMENTS, cuda_available  # noqa: E402
from orthoviz.runtime.params import param_label, param_sections, user_parameters  # noqa: E402
from orthoviz.ui import Explorer  # noqa: E402
from orthoviz.ui.config_panel import ConfigPanel  # noqa: E402
from orthoviz.ui.controls import preset_time_text  # noqa: E402


@pytest.mark.parametrize("key", list_experiments())
def test_one_widget_per_parameter_with_label_and_doc(key):
    cls = get_experiment(key)
    config = cls.from_preset("smoke")
    panel = ConfigPanel(config)
    assert sorted(panel.widgets) == sorted(user_parameters(cls))
    for name, w in panel.widgets.items():
        assert w.name == param_label(cls, name)
        if "description" in w.param:  # (Panel's Checkbox has no tooltip)
            assert w.description == config.param[name].doc.strip()
        assert w.visible == config.applies(name)
    folds = [x for x in panel.panel if isinstance(x, pn.Card)]
    assert len(folds) == ("advanced" in param_sections(cls)) and all(f.collapsed for f in folds)


def test_widgets_that_do_not_apply_hide_and_come_back():
    config = get_experiment("neural-collapse").from_preset("smoke")
    panel = ConfigPanel(config)
    mlp = [panel.widgets[n] for n in ("mlp_width", "mlp_layers", "dataset")]
    assert not any(w.visible for w in mlp)
    panel.widgets["backbone"].value = "mlp"  # as a click in the page
    assert config.backbone == "mlp" and all(w.visible for w in mlp)
    assert not panel.widgets["data_dir"].visible  # gaussian inputs read no folder
    config.dataset = "cifar10"
    assert panel.widgets["data_dir"].visible
    config.backbone = "ufm"
    assert not any(w.visible for w in mlp) and not panel.widgets["data_dir"].visible


def test_preset_line_shows_the_measured_run_time():
    cls = get_experiment("neural-collapse")
    measured = [p for p in cls.presets if p in cls.preset_seconds]
    assert measured, "no preset of neural-collapse has a measured run time"
    e = Explorer(cls, preset=measured[0])
    assert e.controls.preset_time.object == preset_time_text(cls, measured[0])
    assert measured[0] in e.controls.preset_time.object and "about" in e.controls.preset_time.object
    other = next(p for p in cls.presets if p != measured[0])
    e.preset = other
    assert e.controls.preset_time.object == preset_time_text(cls, other)


@pytest.mark.skipif(cuda_available(), reason="CUDA is present")
def test_device_plan_is_shown_before_start_and_follows_the_config(monkeypatch):
    monkeypatch.delenv("ORTHOVIZ_DEVICE", raising=False)
    e = Explorer("neural-collapse", preset="smoke")
    text = e.controls.device_used.object
    size = e.config.problem_size()
    assert "auto → cpu (no GPU here; problem of" in text and str(size) in text, text
    e.config.samples_per_class = 1000  # 10x the elements: the plan says so at once
    assert e.config.problem_size() > size and "48k elements" in e.controls.device_used.object
    e.device = "cpu"
    assert e.controls.device_used.object == "device: <b>cpu</b>"
    assert GPU_MIN_ELEMENTS == 4_000_000  # the rule the words describe


@pytest.mark.parametrize("name, bad", [("lr", float("inf")), ("lr", -1.0),
                                       ("depth", 10**9), ("class_sizes", [float("nan")]),
                                       ("class_sizes", ["a", 5])])
def test_a_refused_widget_value_is_named_and_put_back(name, bad):
    """The widget path checks values as the URL and --set do (checked_value): the
    config keeps its value, the widget shows it again, the message names the
    parameter; a valid value still applies."""
    from orthoviz.runtime import ConfigError

    cfg = get_experiment("neural-collapse").from_preset("smoke")
    said = []
    panel = ConfigPanel(cfg, on_refused=said.append)
    old = getattr(cfg, name)
    with pytest.raises(ConfigError):
        panel.widgets[name].value = bad
    assert getattr(cfg, name) == old and panel.widgets[name].value == old
    assert said and said[-1].startswith(f"not applied: invalid value for '{name}'")
    panel.widgets["lr"].value = 0.02
    assert cfg.lr == 0.02


def test_list_widgets_make_no_class_per_session():
    """Panel maps a list parameter to a class it makes per widget; a class is never
    freed, so a served class would leave two behind per NC session. Ours is one class:
    building the widgets again makes no new subclass of LiteralInput, and the box
    still reads and checks a typed list."""
    from orthoviz.ui.controls import ListInput

    def subclasses():
        return len(pn.widgets.LiteralInput.__subclasses__())

    ConfigPanel(get_experiment("neural-collapse").from_preset("smoke"))
    before = subclasses()
    cfg = get_experiment("neural-collapse").from_preset("smoke")
    panel = ConfigPanel(cfg)
    assert subclasses() == before
    box = panel.widgets["class_sizes"]
    assert type(box) is ListInput and box.type is list
    box.value = [7, 3]
    assert cfg.class_sizes == [7, 3]
