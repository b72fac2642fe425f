"""The analyses: one package per analysis (its computation, its typed record, its figure), each a plain
function GAN + settings -> Result. Their commands are ``ganlens/<name>.py``; :mod:`.api` makes
``ganlens.<name>(...)`` callable with its arguments checked."""
