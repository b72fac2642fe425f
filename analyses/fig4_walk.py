"""Fig. 4: latent walks through 9 random points, with a memorization test against the training set.

    python analyses/fig4_walk.py [--checkpoint PATH] [--out paper] [flags of the ganlens command, which win]

Writes OUT/fig4_walk/, its LaTeX snippet(s) and updates OUT/manifest.json; settings and captions: ganlens.paper.
"""

import sys

from ganlens import cli, paper

if __name__ == "__main__":
    sys.exit(cli.run(lambda argv: paper.main(argv, only="fig4_walk"), None, "analyses/fig4_walk.py"))
