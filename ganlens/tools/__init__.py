"""The tools around the analyses: the trainer (:mod:`.train`), the annotator and rating pages
(:mod:`.annotate`), the exporter (:mod:`.export`). Their commands are ``ganlens/<name>.py``."""
