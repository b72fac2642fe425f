"""The paper tool: run each paper figure's command on one model, write LaTeX snippets and a manifest.

Each analysis declares its figure (``ganlens/analyses/<name>/paper.py``: a :class:`ganlens.core.latex.PaperFigure`
with its settings and captions) and the registry names it; :mod:`ganlens.paper` (the command behind
``analyses/run_all.py`` and ``analyses/<key>.py``) gathers them and runs them through :func:`build.run`.
Here: :mod:`.options` (flags), :mod:`.runner` (one figure: its call, snippets, manifest entry), :mod:`.numbers`
(what is compared between runs), :mod:`.manifest` (manifest.json), :mod:`.build` (a run)."""

from ganlens.tools.paper.build import remove_stale, run
from ganlens.tools.paper.manifest import FORMAT, MANIFEST_VOLATILE
from ganlens.tools.paper.numbers import VOLATILE_KEYS, canonical, compare, compare_runs, numbers, numbers_sha256
from ganlens.tools.paper.options import DEFAULT_BOXES, DEFAULT_OUT, REPO, SHARED_FLAGS
from ganlens.tools.paper.runner import SKIPPED, Job, Run, command_for, generate, run_figure, write_snippets

__all__ = ["run", "remove_stale", "FORMAT", "MANIFEST_VOLATILE", "VOLATILE_KEYS", "canonical", "compare",
           "compare_runs", "numbers", "numbers_sha256", "DEFAULT_BOXES", "DEFAULT_OUT", "REPO", "SHARED_FLAGS",
           "SKIPPED", "Job", "Run", "command_for", "generate", "run_figure", "write_snippets"]
