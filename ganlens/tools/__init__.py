"""The tools around the analyses: the trainer (:mod:`.train`), the annotator and rating pages
(:mod:`.annotate`), the exporter (:mod:`.export`) and the paper runner (:mod:`.paper`). Their commands are
``ganlens/<name>.py``."""
