"""Dissection (Bau et al. 2019): which generator units draw which class, and removing / inserting a class through them.

    python analyses/fig_dissect.py [--checkpoint PATH] [--out paper] [flags of the ganlens command, which win]

Writes OUT/fig_dissect/, its LaTeX snippet(s) and updates OUT/manifest.json; settings and captions: ganlens.paper.
A model that is not a rooms model needs a segmenter: add --segmenter FILE.py:FUNC.
"""

import sys

from ganlens import cli, paper

if __name__ == "__main__":
    sys.exit(cli.run(lambda argv: paper.main(argv, only="fig_dissect"), None, "analyses/fig_dissect.py"))
