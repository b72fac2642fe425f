"""The core every analysis stands on: the model type (:mod:`.gan`), checkpoints and foreign layouts, layers,
hooks, generation, results and the figure style. Imports nothing from the rest of ganlens."""
