"""Data: image sets and data specs (:mod:`.sets`), the procedural rooms testbed (:mod:`.rooms`), its
detector / segmenter (:mod:`.detect`), and the files humans make (box files :mod:`.boxes`, ratings :mod:`.ratings`).

``ganlens.data.X`` keeps naming what :mod:`ganlens.data.sets` defines."""

from ganlens.core.pixels import to_float, to_uint8
from ganlens.data.sets import (MAX_CLASS, IMAGE_SUFFIXES, ROOMS_DEFAULT, ImageSet, RoomsSet, FolderSet,
                               MAX_IMAGE_PIXELS, TensorSet, NPZ_BOMB_BYTES, NPZ_BOMB_RATIO, LSUNSet,
                               parse_rooms, open_images, for_model, check_data_arg, check_labels,
                               iter_chunks, load_all, MASK_NAMES_FILE, image_files, mask_files, mask_names,
                               read_mask)

__all__ = [
    "FolderSet", "IMAGE_SUFFIXES", "ImageSet", "LSUNSet", "MASK_NAMES_FILE", "MAX_CLASS", "MAX_IMAGE_PIXELS",
    "NPZ_BOMB_BYTES", "NPZ_BOMB_RATIO", "ROOMS_DEFAULT", "RoomsSet", "TensorSet", "check_data_arg",
    "check_labels", "for_model", "image_files", "iter_chunks", "load_all", "mask_files", "mask_names",
    "open_images", "parse_rooms", "read_mask", "to_float", "to_uint8"
]
