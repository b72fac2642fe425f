"""Fig. 7 and 8: vector arithmetic on latents (window - nowindow + room) and a turn.

    python analyses/fig7_arith.py [--checkpoint PATH] [--out paper] [flags of the ganlens command, which win]

Writes OUT/fig7_arith/, its LaTeX snippet(s) and updates OUT/manifest.json; settings and captions: ganlens.paper.
"""

import sys

from ganlens import cli, paper

if __name__ == "__main__":
    sys.exit(cli.run(lambda argv: paper.main(argv, only="fig7_arith"), None, "analyses/fig7_arith.py"))
