"""Fig. 6: forgetting windows by dropping the generator maps a probe ties to them (needs annotations/windows.json).

    python analyses/fig6_forget.py [--checkpoint PATH] [--out paper] [flags of the ganlens command, which win]

Writes OUT/fig6_forget/, its LaTeX snippet(s) and updates OUT/manifest.json; settings and captions: ganlens.paper.
"""

import sys

from ganlens import cli, paper

if __name__ == "__main__":
    sys.exit(cli.run(lambda argv: paper.main(argv, only="fig6_forget"), None, "analyses/fig6_forget.py"))
