"""Label masks: read at any scale of their photo, refused when drawn for a photo of another shape."""

import numpy as np
import pytest

from mvstylizer_common.errors import InvalidInputError
from services.stylizer.masks import check_labels, check_same_shape, labels_from_mask


@pytest.mark.parametrize(
    ("mask_size", "image_size"),
    [((700, 437), (700, 437)), ((700, 437), (512, 320)), ((512, 320), (700, 437)), ((7, 3), (16, 7)), ((3, 2), (1, 1))],
)
def test_a_mask_of_its_photos_shape_at_any_scale_is_accepted(mask_size, image_size):
    check_same_shape(mask_size, image_size)
    labels = np.zeros((mask_size[1], mask_size[0]), np.uint8)
    assert check_labels(labels, image_size).shape == (image_size[1], image_size[0])


@pytest.mark.parametrize(
    ("mask_size", "image_size"), [((700, 437), (700, 525)), ((20, 900), (512, 384)), ((640, 480), (480, 640))]
)
def test_a_mask_drawn_for_a_photo_of_another_shape_is_refused_by_name(mask_size, image_size):
    mask = np.zeros((mask_size[1], mask_size[0], 3), np.uint8)
    with pytest.raises(InvalidInputError, match=f"content mask is {mask_size[0]}x{mask_size[1]}.*its own photo"):
        labels_from_mask(mask, image_size, "content mask")
    with pytest.raises(InvalidInputError, match="style mask"):
        check_labels(mask[..., 0], image_size, "style mask")
