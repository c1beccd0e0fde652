"""The 3-D frame pane: a rotatable orthographic camera, a key, and a frame that fits."""

import numpy as np
import pytest

hv = pytest.importorskip("holoviews")
pytest.importorskip("holoviews.plotting.bokeh")

from orthoviz.neural_collapse import NeuralCollapse  # noqa: E402
from orthoviz.viz.common import ensure_bokeh  # noqa: E402
from orthoviz.viz.neural_collapse import VIEWS, camera, geometry_3d  # noqa: E402
from orthoviz.viz.spec import ViewState  # noqa: E402

ensure_bokeh()


@pytest.mark.parametrize("az, el", [(35, 22), (-120, 60), (0, -89), (180, 0)])
def test_camera_is_an_orthographic_projection(az, el):
    """The screen axes are orthonormal in 3-D, and e3 points up by cos(elevation)."""
    V = camera(az, el)
    np.testing.assert_allclose(V.T @ V, np.eye(2), atol=1e-12)
    assert V[2, 1] == pytest.approx(np.cos(np.radians(el)))


def _tips(frame):
    pts = [el for el in frame if isinstance(el, hv.Points)]
    return np.column_stack([pts[0].dimension_values(0), pts[0].dimension_values(1)])


def test_geometry_pane_follows_the_sliders_and_has_a_key():
    exp = NeuralCollapse.from_preset("smoke")
    th = exp.theory()
    pane = next(p for p in VIEWS.panes if p.build is geometry_3d)
    assert set(pane.controls) == {"azimuth", "elevation"}
    means = np.asarray(th["means_3d"], float)
    unit = means / np.linalg.norm(means, axis=1).max()
    for az, el in [(35, 22), (100, -40)]:
        measured, predicted = geometry_3d(ViewState(exp, th, {}, [],
                                                    view={"azimuth": az, "elevation": el}))
        np.testing.assert_allclose(_tips(predicted), unit @ camera(az, el), atol=1e-12)
    labels = {el.label for el in measured}
    assert {"class mean (solid)", "classifier row (dashed)"} <= labels
    # the pair fits a half-width cell of a 1600 px page (about 620 px)
    opts = measured.opts.get().kwargs
    assert 2 * (opts["frame_width"] + 40) <= 620


def test_live_pane_slider_redraws_with_the_new_camera():
    from orthoviz.ui.plots import LivePane

    exp = NeuralCollapse.from_preset("smoke")
    pane = next(p for p in VIEWS.panes if p.build is geometry_3d)
    live = LivePane(pane)
    assert live.send(ViewState(exp, exp.theory(), {}, []), signature=1, force=True)
    azimuth = next(w for w in live.sliders if w.name.startswith("azimuth"))
    azimuth.value = 120
    assert live.pipe.data.view["azimuth"] == 120  # the redraw carries the new angle
    # a new state from the run keeps the user's camera
    live.send(ViewState(exp, exp.theory(), {}, []), signature=2, force=True)
    assert live.pipe.data.view["azimuth"] == 120
