"""Human judgements as files: the box annotator page (:func:`build_page`: one self-contained HTML file, no
server, no network; Download gives a ``ganlens.boxes/1`` file), COCO boxes converted to that format
(:func:`coco_to_boxes`), and blind rating pages of a forget result (:func:`rating_pages`).
``python -m ganlens.annotate`` is the command; the pages, the formats and the rating design are described in
docs/methods.md, section "annotate"."""

from ganlens.tools.annotate.coco import coco_to_boxes, dumps_box_file, seed_from_file_name
from ganlens.tools.annotate.page import (DEFAULT_N, FORMAT, GRID_PIXELS, MODES, PAGE_PIXELS, TEMPLATE, build_page,
                                         fill_template, plan_samples, png_base64, read_json_file, render)
from ganlens.tools.annotate.rating import (DEFAULT_RATE_N, DEFAULT_RATERS, forget_result, rating_key,
                                           rating_pages)

__all__ = ["build_page", "fill_template", "plan_samples", "png_base64", "render", "read_json_file", "coco_to_boxes",
           "dumps_box_file", "seed_from_file_name", "rating_pages", "rating_key", "forget_result", "FORMAT",
           "TEMPLATE", "MODES", "DEFAULT_N", "PAGE_PIXELS", "GRID_PIXELS", "DEFAULT_RATE_N", "DEFAULT_RATERS"]
