"""orthoviz's own index page for ``orthoviz serve`` and ``panel serve apps/*.py``.

``INDEX_TEMPLATE`` is a Tornado template (Bokeh renders the server's index with
Tornado, which HTML-escapes every ``{{ }}`` expression); it imports :func:`card` to
turn each served app's slug into a title, one sentence, a thumbnail and links to its
notebook and paper. Nothing a user typed reaches the page: the text comes from the
registered experiments and the tables below.

Thumbnails are ``apps/thumbnails/<slug>.png``, made by ``python tools/thumbnails.py``
from each experiment's theory-only figures (the project's PNG export), and served at
``/thumbnails/`` (``--static-dirs thumbnails=apps/thumbnails`` with ``panel serve``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

INDEX_TEMPLATE = str(Path(__file__).with_name("templates") / "index.html")
REPO = "https://github.com/orthoviz/orthoviz"
BINDER = "https://mybinder.org/v2/gh/orthoviz/orthoviz/HEAD?urlpath=lab/tree/notebooks/"
TITLE = "orthoviz — the geometry of learning, live"
SENTENCE = ("Each app trains a model live, on a GPU when one is present, and draws the "
            "paper's prediction beside the experiment.")

#: experiment key -> (citation, URL) of the paper it reproduces
PAPERS = {
    "neural-collapse": ("Dang et al., Neural Collapse in Deep Linear Networks, ICML 2023",
                        "https://arxiv.org/abs/2301.00437"),
    "random-features": ("Simon et al., More is Better in Modern Machine Learning, "
                        "ICLR 2024", "https://arxiv.org/abs/2311.14646"),
    "hierarchical": ("Wang, Nichani, Lee, Learning Hierarchical Polynomials with "
                     "Three-Layer Neural Networks, ICLR 2024",
                     "https://arxiv.org/abs/2311.13774"),
    "deep-cg": ("Kaneda et al., A Deep Conjugate Direction Method for Iteratively "
                "Solving Linear Systems, ICML 2023", "https://arxiv.org/abs/2205.10763"),
    "deep-cg-train": ("Kaneda et al., A Deep Conjugate Direction Method for Iteratively "
                      "Solving Linear Systems, ICML 2023",
                      "https://arxiv.org/abs/2205.10763"),
}


@dataclass(frozen=True)
class Card:
    slug: str  # the app's route without "/", e.g. "neural_collapse"
    title: str
    sentence: str
    thumbnail: str  # relative URL
    notebook: str  # Binder URL of the notebook, or ""
    notebook_name: str
    paper: str  # citation, or ""
    paper_url: str


def _notebook(slug: str) -> str:
    folder = Path(__file__).resolve().parents[2] / "notebooks"
    # an app of a package with several experiments (deep_cg_train) shares its notebook
    for name in (slug, slug.rsplit("_", 1)[0]):
        found = sorted(folder.glob(f"*_{name}.ipynb"))
        if found:
            return found[0].name
    return ""


def _experiment(slug: str):
    from orthoviz.runtime import get_experiment, list_experiments

    key = slug.replace("_", "-")
    return get_experiment(key) if key in list_experiments() else None


def card(route: str) -> Card:
    """The card of one served app (``route`` is Bokeh's ``/neural_collapse``)."""
    slug = route.strip("/").split("/")[-1]
    cls = _experiment(slug)
    key = cls.key if cls is not None else slug
    title = getattr(cls, "title", slug.replace("_", " "))
    sentence = getattr(cls, "summary", "").split(";")[0].strip()
    if sentence and not sentence.endswith("."):
        sentence += "."
    paper, url = PAPERS.get(key, ("", ""))
    nb = _notebook(slug)
    return Card(slug=slug, title=title, sentence=sentence,
                thumbnail=f"thumbnails/{slug}.png", notebook=BINDER + nb if nb else "",
                notebook_name=nb, paper=paper, paper_url=url)


def cards(routes) -> list[Card]:
    """Cards for Panel's index items (``(route, title)`` pairs or plain routes)."""
    return [card(r[0] if isinstance(r, tuple | list) else r) for r in routes]
