"""Fig. 5: guided backpropagation of discriminator units, trained vs random D.

    python analyses/fig5_filters.py [--checkpoint PATH] [--out paper] [flags of the ganlens command, which win]

Writes OUT/fig5_filters/, its LaTeX snippet(s) and updates OUT/manifest.json; settings and captions: ganlens.paper.
"""

import sys

from ganlens import cli, paper

if __name__ == "__main__":
    sys.exit(cli.run(lambda argv: paper.main(argv, only="fig5_filters"), None, "analyses/fig5_filters.py"))
