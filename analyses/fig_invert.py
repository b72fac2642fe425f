"""Inversion: reconstructions of real images, the membership test (training vs held-out) and mode dropping.

    python analyses/fig_invert.py [--checkpoint PATH] [--out paper] [flags of the ganlens command, which win]

Writes OUT/fig_invert/, its LaTeX snippets and updates OUT/manifest.json; settings and captions: ganlens.paper.
A model that is not a rooms model needs --heldout PATH (real images never trained on) and --segmenter FILE.py:FUNC.
"""

import sys

from ganlens import cli, paper

if __name__ == "__main__":
    sys.exit(cli.run(lambda argv: paper.main(argv, only="fig_invert"), None, "analyses/fig_invert.py"))
