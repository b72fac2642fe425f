"""Regenerate every figure of Radford et al. (2016) that ganlens reproduces, and Table 1, on one model.

    python analyses/run_all.py                  # the shipped model -> paper/ (manifest.json, *.tex, one folder each)
    python analyses/run_all.py --check          # twice: are the numbers identical?

Settings, captions and the manifest live in ganlens.paper; see --help.
"""

import sys

from ganlens import cli, paper

if __name__ == "__main__":
    sys.exit(cli.run(paper.main, None, "analyses/run_all.py"))
