"""GANSpace (Härkönen et al. 2020): principal latent directions of an early generator layer, edits along them,
and a control against random directions.

    python analyses/fig_ganspace.py [--checkpoint PATH] [--out paper] [flags of the ganlens command, which win]

Writes OUT/fig_ganspace/, its LaTeX snippet(s) and updates OUT/manifest.json; settings and captions:
ganlens/analyses/ganspace/paper.py.
"""

import sys

from ganlens import cli, paper

if __name__ == "__main__":
    sys.exit(cli.run(lambda argv: paper.main(argv, only="fig_ganspace"), None, "analyses/fig_ganspace.py"))
