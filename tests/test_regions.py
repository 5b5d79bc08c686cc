import numpy as np
import pytest
import torch
from PIL import Image

from lowrankgan import LowRankGANError
from lowrankgan.models.presets import PRESETS, derive_face_presets
from lowrankgan.maths.regions import check_analysis_masks, parse_region


def test_box_selects_exactly_its_pixels():
    r = parse_region("box:10,20,5,8", 64)
    assert r.mask.sum() == 40 and r.mask[10:15, 20:28].all()


def test_union_and_presets():
    presets = {"a": "box:0,0,2,2"}
    r = parse_region("a+box:10,10,2,2", 16, presets)
    assert r.mask.sum() == 8


def test_mask_image_white_is_region(tmp_path):
    arr = np.zeros((128, 128), np.uint8)
    arr[32:64, 64:96] = 255
    Image.fromarray(arr).save(tmp_path / "m.png")
    r = parse_region(str(tmp_path / "m.png"), 64)
    assert r.mask.sum() == 16 * 16 and r.mask[16:32, 32:48].all()


@pytest.mark.parametrize("spec,message", [
    ("box:1,2,3", "four integers"),
    ("box:0,0,0,5", "empty"),
    ("box:60,60,10,10", "outside the 64x64"),
    ("box:-1,0,4,4", "outside"),
    ("box:0,0,64,64", "whole image"),
    ("lips", "unknown region 'lips'.*presets: .*eyes"),
    ("", "empty region"),
])
def test_bad_regions_are_explained(spec, message):
    with pytest.raises(LowRankGANError, match=message):
        parse_region(spec, 64, PRESETS["dcgan-faces"])


def test_empty_mask_image_is_refused(tmp_path):
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "black.png")
    with pytest.raises(LowRankGANError, match="selects no pixel"):
        parse_region(str(tmp_path / "black.png"), 64)


def test_region_too_small_for_analysis_size():
    r = parse_region("box:0,0,1,1", 64)
    with pytest.raises(LowRankGANError, match="vanishes at analysis size 8"):
        check_analysis_masks(r, 8)


def test_face_presets_are_what_the_mean_face_gives(faces):
    """The preset table is the output of the documented derivation on 1000 faces."""
    with torch.no_grad():
        mean = torch.cat([faces.synthesize(faces.sample(range(i, i + 250))) for i in range(0, 1000, 250)]).mean(0)
    assert derive_face_presets(mean.numpy()) == PRESETS["dcgan-faces"]
    assert set(PRESETS["dcgan-faces"]) >= {"eyes", "mouth", "nose", "hair", "forehead", "background"}


def test_missing_mask_image_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a short path: long ones are shortened in the message
    with pytest.raises(LowRankGANError, match="mask image nothere.png does not exist"):
        parse_region("nothere.png", 64)


def test_flat_colour_with_alpha_uses_alpha(tmp_path):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[5:9, 5:15, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert parse_region(str(tmp_path / "a.png"), 64).mask.sum() == 40


def test_face_boxes_near_the_edge_stay_inside_the_image():
    # Eyes far to the right (a photo's off-centre face): the background's right part would start
    # past the image; it is left out instead of becoming an invalid box (the page's presets failed).
    from lowrankgan.models.presets import face_boxes
    boxes = face_boxes(64, (30, 40), (30, 58), 50)
    assert "+" not in boxes["background"]
    for name, spec in boxes.items():
        assert parse_region(spec, 64).at(64).any(), name
