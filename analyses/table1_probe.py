"""Table 1: linear L2-SVM on the discriminator's features, trained vs random D.

    python analyses/table1_probe.py [--checkpoint PATH] [--out paper] [flags of the ganlens command, which win]

Writes OUT/table1_probe/, its LaTeX snippet(s) and updates OUT/manifest.json; settings and captions: ganlens.paper.
"""

import sys

from ganlens import cli, paper

if __name__ == "__main__":
    sys.exit(cli.run(lambda argv: paper.main(argv, only="table1_probe"), None, "analyses/table1_probe.py"))
