"""Make ``apps/thumbnails/<app>.png`` for the orthoviz index from each app's
theory-only figures, with the project's own PNG export (``orthoviz.viz.export``).

    .venv/bin/python tools/thumbnails.py            # every apps/*.py with an experiment
    .venv/bin/python tools/thumbnails.py random_features

For each app the experiment's ``default`` preset is drawn with its cached theory and no
run (empty rows and arrays): the views that draw at first paint. The first two that
are not placeholders (panes first, then one curve group) go side by side, 360 x 240
px each; the screenshot, taken by
headless Chromium (Playwright with the OS ``/usr/bin/chromium``, or selenium), is
cropped to the figure. Rerun
after changing a view or a default, and commit the PNGs.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 360, 240


def theory_figure(key: str):
    """The first two theory-only views of experiment ``key`` as one hv.Layout."""
    import holoviews as hv

    from orthoviz.runtime import get_experiment
    from orthoviz.viz.common import build_pane, ensure_bokeh, is_placeholder
    from orthoviz.viz.curves import figure
    from orthoviz.viz.spec import ViewState, views_for

    ensure_bokeh()
    cls = get_experiment(key)
    exp = cls.from_preset("default")
    state = ViewState(config=exp, theory=exp.theory(), arrays={}, rows=[], final=None)
    views = views_for(cls)
    items = [build_pane(p, state) for p in views.panes]  # panes first, then one curve
    items += [figure(state.rows, c, exp, state.theory) for c in views.curves if c.theory][:1]
    items = [i for i in items if not is_placeholder(i)][:2]
    return hv.Layout([_sized(i) for i in items]).cols(2).opts(shared_axes=False,
                                                              toolbar=None)


def crop(path: Path, margin: int = 8) -> None:
    """Trim the screenshot's white page around the figure (Pillow, a Bokeh dependency)."""
    from PIL import Image, ImageChops

    img = Image.open(path).convert("RGB")
    box = ImageChops.difference(img, Image.new("RGB", img.size, "white")).getbbox()
    if box:
        l, t, r, b = box
        img = img.crop((max(0, l - margin), max(0, t - margin),
                        min(img.width, r + margin), min(img.height, b + margin)))
    img.save(path, optimize=True)


def _sized(obj):
    """A thumbnail-sized copy (a layout's last panel: the prediction)."""
    import holoviews as hv

    if isinstance(obj, hv.Layout):
        obj = obj.values()[-1]
    try:
        return obj.opts(width=WIDTH, height=HEIGHT, responsive=False, toolbar=None,
                        show_legend=False, clone=True)
    except ValueError:  # an element without one of these options
        return obj.opts(width=WIDTH, height=HEIGHT, clone=True)


def main(argv: list[str]) -> int:
    from orthoviz.runtime import list_experiments
    from orthoviz.viz.export import save_png

    out = ROOT / "apps" / "thumbnails"
    out.mkdir(exist_ok=True)
    stems = argv or [p.stem for p in sorted((ROOT / "apps").glob("*.py"))
                     if not p.name.startswith("_")]
    for stem in stems:
        key = stem.replace("_", "-")
        if key not in list_experiments():
            print(f"{stem}: no experiment named {key}; skipped", file=sys.stderr)
            continue
        path = save_png(theory_figure(key), out / f"{stem}.png")
        crop(path)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
