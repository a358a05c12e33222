import pytest
import torch

from mvstylizer_common.errors import WeightsError
from services.stylizer.models import get_model, get_model_spec
from services.stylizer.models.photo_wct import PhotoWCT, _covariance, load_photo_wct, whiten_colour

# A sample of the published photo_wct.pth keys and shapes (the checkpoint of FastPhotoStyle).
PUBLISHED_LAYOUT = {
    "e1.conv0.weight": (3, 3, 1, 1),
    "e1.conv1_1.weight": (64, 3, 3, 3),
    "d1.conv1_1.weight": (3, 64, 3, 3),
    "e2.conv2_1.bias": (128,),
    "d2.conv2_1.weight": (64, 128, 3, 3),
    "e3.conv3_1.weight": (256, 128, 3, 3),
    "d3.conv2_2.weight": (128, 128, 3, 3),
    "e4.conv3_4.weight": (256, 256, 3, 3),
    "e4.conv4_1.weight": (512, 256, 3, 3),
    "d4.conv4_1.weight": (256, 512, 3, 3),
    "d4.conv1_1.bias": (3,),
}


@pytest.fixture(scope="module")
def weight_file(tmp_path_factory):
    """A checkpoint in the published layout: a plain state dict saved with torch.save."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("wct") / "photo_wct.pth"
    torch.save(PhotoWCT().state_dict(), path)
    return path


def test_module_names_match_the_published_checkpoint():
    state = PhotoWCT().state_dict()
    for key, shape in PUBLISHED_LAYOUT.items():
        assert tuple(state[key].shape) == shape, key
    assert len(state) == 80  # 40 convolutions (weight and bias) across the 8 networks


def test_published_layout_weights_load_strictly_and_stylize(weight_file):
    model = load_photo_wct(str(weight_file)).eval()
    reference = torch.load(weight_file, weights_only=True)
    torch.testing.assert_close(model.state_dict()["e4.conv4_1.weight"], reference["e4.conv4_1.weight"])
    content, style = torch.rand(1, 3, 37, 45), torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        out = model(content, model.encode_style(style))
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1


def test_whiten_colour_gives_the_style_feature_statistics():
    generator = torch.Generator().manual_seed(0)
    content = torch.randn((1, 8, 20, 20), generator=generator) * 2 + 1
    style = torch.randn((8, 8), generator=generator) @ torch.randn((8, 500), generator=generator) * 0.1 + 0.3
    style_mean, style_cov = _covariance(style)
    values, vectors = torch.linalg.eigh(style_cov)
    colouring = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    out = whiten_colour(content, style_mean, colouring)
    out_mean, out_cov = _covariance(out[0].flatten(1))
    torch.testing.assert_close(out_mean, style_mean, atol=1e-4, rtol=0)
    # Whitening adds the identity to the content covariance (as PhotoWCT does), so the match is close, not exact.
    assert (out_cov - style_cov).abs().max() < 0.3 * style_cov.abs().max()


def test_photowct_needs_weights_and_explains_bad_ones(tmp_path):
    assert get_model_spec("photowct").needs_weights
    with pytest.raises(WeightsError, match="needs a weight file"):
        get_model("photowct")
    with pytest.raises(WeightsError, match="does not exist"):
        get_model("photowct", weights=str(tmp_path / "nope.pth"))
    partial = {k: v for k, v in PhotoWCT().state_dict().items() if not k.startswith("d4.")}
    partial["extra.weight"] = torch.zeros(1)
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match=r"missing: d4\..*unexpected: extra.weight"):
        get_model("photowct", weights=str(tmp_path / "partial.pth"))
    state = PhotoWCT().state_dict()
    state["e1.conv1_1.weight"] = torch.zeros(32, 3, 3, 3)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match=r"wrong shape: e1\.conv1_1\.weight"):
        get_model("photowct", weights=str(tmp_path / "shape.pth"))
