"""CIFAR-C style corruptions: Hendrycks' parameters, fidelity of the building blocks to the
reference's libraries (PIL, scipy.ndimage, colorsys), severity grading, seeding and the OOD table."""

import colorsys
from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter1d

from molere.data.base import Dataset, Split
from molere.data.image_shifts import (
    CORRUPTIONS,
    SEVERITY_PARAMETERS,
    Corrupted,
    box_matrix,
    brightness,
    corrupt,
    corruption_shifts,
    elastic_transform,
    gaussian_matrix,
)
from molere.data.pool import ood_table
from molere.errors import MolereError
from molere_tools.fabricate import fake_images

NAMES = [
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "contrast",
    "brightness",
    "jpeg_compression",
    "pixelate",
    "gaussian_blur",
    "elastic_transform",
]


@pytest.fixture(scope="module")
def images():
    return fake_images(32, 3, 32, 10, seed=0).x


def distance(a, b) -> float:
    return float(np.abs(a.astype(np.float64) - b).mean())


def test_the_nine_corruptions_with_hendrycks_parameters():
    assert sorted(CORRUPTIONS) == sorted(SEVERITY_PARAMETERS) == sorted(NAMES)
    assert SEVERITY_PARAMETERS["gaussian_noise"] == [0.04, 0.06, 0.08, 0.09, 0.10]
    assert SEVERITY_PARAMETERS["shot_noise"] == [500, 250, 100, 75, 50]
    assert SEVERITY_PARAMETERS["impulse_noise"] == [0.01, 0.02, 0.03, 0.05, 0.07]
    assert SEVERITY_PARAMETERS["contrast"] == [0.75, 0.5, 0.4, 0.3, 0.15]
    assert SEVERITY_PARAMETERS["jpeg_compression"] == [80, 65, 58, 50, 40]
    assert SEVERITY_PARAMETERS["pixelate"] == [0.95, 0.9, 0.85, 0.75, 0.65]
    assert all(len(grid) == 5 for grid in SEVERITY_PARAMETERS.values())


@pytest.mark.parametrize("name", NAMES)
def test_uint8_in_uint8_out_and_seeded(images, name):
    out = corrupt(images, name, 3, seed=0)
    assert out.dtype == np.uint8 and out.shape == images.shape
    np.testing.assert_array_equal(out, corrupt(images, name, 3, seed=0))
    assert distance(out, images) > 0


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "impulse_noise", "elastic_transform"])
def test_random_corruptions_draw_anew_per_seed_and_severity(images, name):
    base = corrupt(images, name, 4, seed=0)
    assert not np.array_equal(base, corrupt(images, name, 4, seed=1))
    assert not np.array_equal(base, corrupt(images, name, 5, seed=0))


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("pixelate", "elastic_transform")])
def test_distance_from_the_clean_images_grows_with_severity(images, name):
    distances = [distance(corrupt(images, name, severity, seed=0), images) for severity in range(1, 6)]
    assert all(a < b for a, b in zip(distances, distances[1:])), distances


def test_pixelate_keeps_int_side_times_fraction_distinct_rows():
    noise = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)  # every row distinct
    for severity, fraction in enumerate(SEVERITY_PARAMETERS["pixelate"], start=1):
        out = corrupt(noise, "pixelate", severity, seed=0)
        for image in out:
            rows, columns = image.transpose(1, 0, 2).reshape(32, -1), image.transpose(2, 0, 1).reshape(32, -1)
            assert len(np.unique(rows, axis=0)) == len(np.unique(columns, axis=0)) == int(32 * fraction)


@pytest.mark.parametrize("size_in, size_out", [(32, 30), (32, 27), (32, 20), (28, 18), (30, 32), (20, 32), (8, 5)])
def test_box_matrix_is_pils_box_resize(size_in, size_out):
    plane = np.random.default_rng(size_in * size_out).random((size_in, size_in)).astype(np.float32)
    pil = np.asarray(Image.fromarray(plane, mode="F").resize((size_out, size_out), Image.BOX))
    weights = box_matrix(size_in, size_out).double().numpy()
    np.testing.assert_allclose(weights @ plane @ weights.T, pil, atol=1e-6)


@pytest.mark.parametrize("sigma, truncate, padding, scipy_mode", [(0.4, 4.0, "replicate", "nearest"), (1.0, 4.0, "replicate", "nearest"), (6.4, 3.0, "reflect", "mirror")])
def test_gaussian_matrix_is_scipys_gaussian_filter(sigma, truncate, padding, scipy_mode):
    signal = np.random.default_rng(1).random(32)
    ours = gaussian_matrix(32, sigma, truncate, padding).double().numpy() @ signal
    np.testing.assert_allclose(ours, gaussian_filter1d(signal, sigma, mode=scipy_mode, truncate=truncate), atol=1e-6)


def test_brightness_adds_to_the_hsv_value():
    pixels = np.random.default_rng(2).random((50, 3))
    pixels[0] = 0  # black: grey afterwards
    out = brightness(torch.tensor(pixels, dtype=torch.float32).reshape(50, 3, 1, 1), 0.2, None).reshape(50, 3).numpy()
    for rgb, result in zip(pixels, out):
        h, s, v = colorsys.rgb_to_hsv(*rgb)
        np.testing.assert_allclose(result, colorsys.hsv_to_rgb(h, s, min(v + 0.2, 1.0)), atol=1e-6)


def test_jpeg_matches_pils_encoder_at_the_same_quality(images):
    out = corrupt(images, "jpeg_compression", 5, seed=0)
    for image, ours in zip(images[:4], out[:4]):
        buffer = BytesIO()
        Image.fromarray(image.transpose(1, 2, 0)).save(buffer, "JPEG", quality=40)
        reference = np.asarray(Image.open(buffer)).transpose(2, 0, 1)
        assert np.abs(ours.astype(int) - reference).max() <= 1


def test_contrast_pulls_each_channel_to_its_mean(images):
    out = corrupt(images, "contrast", 5, seed=0).astype(np.float64)
    mean = images.mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(out, (images - mean) * 0.15 + mean, atol=0.5 + 1e-9)  # rounding to uint8


def test_noise_statistics_on_a_grey_image():
    grey = np.full((64, 3, 32, 32), 128, dtype=np.uint8)
    gaussian = corrupt(grey, "gaussian_noise", 5, seed=0) / 255 - 128 / 255
    assert abs(gaussian.std() - 0.10) < 0.002
    impulse = corrupt(grey, "impulse_noise", 5, seed=0)
    changed = impulse != 128
    assert set(np.unique(impulse[changed])) == {0, 255}
    assert abs(changed.mean() - 0.07) < 0.005
    shot = corrupt(grey, "shot_noise", 5, seed=0) / 255  # Poisson(50 p) / 50: mean p, var p / 50
    assert abs(shot.mean() - 128 / 255) < 0.005 and abs(shot.var() - (128 / 255) / 50) < 0.001


def test_elastic_without_warp_or_displacement_is_the_identity(images):
    x = torch.from_numpy(images).float() / 255
    out = elastic_transform(x, (0.0, 0.0, 0.0), torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_bad_corruption_or_severity_is_a_one_line_error(images):
    with pytest.raises(MolereError, match="unknown corruption 'frost'; allowed: brightness"):
        corrupt(images, "frost", 1, seed=0)
    for severity in (0, 6):
        with pytest.raises(MolereError, match=rf"severity = {severity} is outside the allowed range \[1, 5\]"):
            corrupt(images, "contrast", severity, seed=0)


def test_ood_table_corrupts_only_the_first_max_examples(images):
    labels = np.arange(len(images)) % 10
    test = Split(images, labels)
    dataset = Dataset("toy", 10, test, None, test, shifts=corruption_shifts(test, seed=0))
    table, blocks = ood_table(dataset, [2, 4], max_examples=5)
    x = np.concatenate(blocks)
    assert len(blocks) == len(NAMES) * 2 and len(table) == len(NAMES) * 2 * 5 and x.shape == (len(table), 3, 32, 32)
    for (shift, severity), rows in table.groupby(["shift", "severity"]):
        assert rows["id"].tolist() == list(range(5))
        np.testing.assert_array_equal(rows["y"], labels[:5])
        np.testing.assert_array_equal(x[rows.index], Corrupted(test.head(5), shift, 0)(severity).x)
    with pytest.raises(MolereError, match=r"ood.max_examples = 0 is outside"):
        ood_table(dataset, [1], max_examples=0)
