"""Label masks: read at any scale of their photo, refused when drawn for a photo of another shape."""

import numpy as np
import pytest

from mvstylizer_common.errors import InvalidInputError
from services.stylizer.masks import check_labels, check_same_shape, labels_from_mask


@pytest.mark.parametrize(
    ("mask_size", "image_size"),
    [
        ((700, 437), (700, 437)),
        ((700, 437), (512, 320)),
        ((512, 320), (700, 437)),
        ((7, 3), (16, 7)),
        ((3, 2), (1, 1)),
        ((1000, 1000), (1015, 1000)),  # 1.5% wider: within the tolerance
    ],
)
def test_a_mask_of_its_photos_shape_at_any_scale_is_accepted(mask_size, image_size):
    check_same_shape(mask_size, image_size)
    labels = np.zeros((mask_size[1], mask_size[0]), np.uint8)
    assert check_labels(labels, image_size).shape == (image_size[1], image_size[0])


@pytest.mark.parametrize(
    ("mask_size", "image_size"),
    [((700, 437), (700, 525)), ((20, 900), (512, 384)), ((640, 480), (480, 640)), ((1000, 1000), (1030, 1000))],
)
def test_a_mask_drawn_for_a_photo_of_another_shape_is_refused_by_name(mask_size, image_size):
    mask = np.zeros((mask_size[1], mask_size[0], 3), np.uint8)
    sizes = f"{mask_size[0]}x{mask_size[1]} but its photo is {image_size[0]}x{image_size[1]}"
    with pytest.raises(InvalidInputError, match=f"content mask is {sizes}.*its own photo"):
        labels_from_mask(mask, image_size, "content mask")
    with pytest.raises(InvalidInputError, match="style mask"):
        check_labels(mask[..., 0], image_size, "style mask")


def test_a_thin_photos_own_mask_is_checked_against_the_photo_not_its_rounded_working_size():
    labels = np.zeros((10, 3268), np.uint8)
    # The working size of a 3268x10 photo at long side 64 rounds to 64x1 (a ratio of 64, not 327).
    assert check_labels(labels, (64, 1), "content mask", photo_size=(3268, 10)).shape == (1, 64)
    with pytest.raises(InvalidInputError, match="content mask is 3268x10 but its photo is 64x1"):
        check_labels(labels, (64, 1), "content mask")
