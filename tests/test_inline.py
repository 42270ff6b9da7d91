"""videoae.show: videos, batches and a model's outputs as animations that play inline in a notebook."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

import videoae
from videoae.data.moving_mnist import generate
from videoae.data.video_io import read_video
from videoae.errors import InvalidInputError
from videoae.evaluation.predict import Prediction
from videoae.reporting.comparison import comparison_panels
from videoae.reporting.frames import sequence_grid
from videoae.reporting.inline import Animation


def gif_in_html(html: str) -> bytes:
    """The GIF an ``<img>`` of the HTML holds as a data URI (the test fails if there is none)."""
    match = re.search(r'<img src="data:image/gif;base64,([A-Za-z0-9+/=]+)"', html)
    assert match, html[:200]
    return base64.b64decode(match.group(1), validate=True)


def gif_frames(data: bytes) -> np.ndarray:
    """The frames of a GIF as Pillow decodes them, grey (T, H, W) uint8."""
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "GIF"
        return np.stack([np.array(frame.convert("L")) for frame in ImageSequence.Iterator(image)])


@pytest.fixture(scope="module")
def videos() -> np.ndarray:
    return generate(3, seed=1, num_frames=12)  # uint8 (3, 12, 64, 64)


def test_a_video_is_an_img_of_a_gif_data_uri_with_its_frames_and_no_script(videos):
    animation = videoae.show(videos[0])
    html = animation._repr_html_()
    assert "<script" not in html.lower()
    frames = gif_frames(gif_in_html(html))
    assert frames.shape == (12, 64, 64)
    np.testing.assert_array_equal(frames, videos[0])  # grey GIF frames are exact
    assert 'width="128"' in html  # a 64-pixel video is shown at twice its size, the GIF keeps its own


def test_a_batch_plays_side_by_side_in_a_grid(videos):
    frames = gif_frames(gif_in_html(videoae.show(videos, columns=3)._repr_html_()))
    np.testing.assert_array_equal(frames, sequence_grid(videos, columns=3))


def test_torch_floats_with_a_channel_axis_show_as_the_same_pixels(videos):
    as_model_input = torch.from_numpy(videos).float().div(255).unsqueeze(2)  # (B, T, 1, H, W) in [0, 1]
    np.testing.assert_array_equal(videoae.show(as_model_input).frames, videoae.show(videos).frames)
    np.testing.assert_array_equal(videoae.show(as_model_input[0]).frames, videos[0])  # (T, 1, H, W): one video


def test_rgb_videos_in_either_channel_layout_give_colour_frames(videos):
    rgb = np.stack([videos[0], videos[0] // 2, np.zeros_like(videos[0])], axis=-1)  # (T, H, W, 3)
    channels_first = np.moveaxis(rgb, -1, 1)  # (T, 3, H, W), the model's layout
    assert videoae.show(rgb).frames.shape == (12, 64, 64, 3)
    np.testing.assert_array_equal(videoae.show(channels_first).frames, rgb)
    assert "RGB" in repr(videoae.show(rgb))


def test_a_prediction_shows_its_four_panels_over_the_input_and_future_frames(videos):
    inputs, future = videos[:, :8] / 255, videos[:, 8:] / 255
    prediction = Prediction(inputs=inputs, truth=future, reconstruction=inputs[:, ::-1], prediction=future * 0.5)
    animation = videoae.show(prediction, title="pretrained")
    assert animation.num_frames == 12  # 8 input frames, then 4 future ones
    np.testing.assert_array_equal(animation.frames, comparison_panels(**prediction.panels(), scale=1))
    assert gif_frames(gif_in_html(animation._repr_html_())).shape[0] == 12


def test_a_models_output_dict_shows_its_reconstruction_and_prediction():
    model = videoae.load("pretrained:conv-small")
    clips = torch.from_numpy(generate(2, seed=3)).float().div(255).unsqueeze(2)  # (2, 20, 1, 64, 64)
    with torch.no_grad():
        out = model(clips[:, :10], clips[:, 10:])
    animation = videoae.show(out)
    expected = comparison_panels(None, reconstruction=out["reconstruction"][:, :, 0], prediction=out["prediction"][:, :, 0], scale=1)
    np.testing.assert_array_equal(animation.frames, expected)


def test_saved_gif_reads_back_with_videoaes_reader(tmp_path, videos):
    animation = videoae.show(videos, frame_ms=120)
    path = animation.save(tmp_path / "batch.gif")
    back = read_video(path)  # float32 (T, H, W) in [0, 1]
    np.testing.assert_array_equal(np.rint(back * 255).astype(np.uint8), animation.frames)
    with Image.open(path) as image:
        assert image.info["duration"] == 120
    again = videoae.show(path)  # a path is read, then shown
    np.testing.assert_array_equal(again.frames, animation.frames)


def test_saved_mp4_has_every_frame(tmp_path, videos):
    pytest.importorskip("av")
    back = read_video(videoae.show(videos[0]).save(tmp_path / "clip.mp4"))
    assert back.shape == (12, 64, 64)
    assert np.abs(back * 255 - videos[0]).mean() < 3  # H.264 at constant quality 17: close, not exact


def test_a_title_is_a_caption_with_its_markup_escaped(videos):
    html = videoae.show(videos[0], title="<b>Moving MNIST</b> & 움직이는 숫자")._repr_html_()
    assert "<figcaption>&lt;b&gt;Moving MNIST&lt;/b&gt; &amp; 움직이는 숫자</figcaption>" in html


@pytest.mark.parametrize(
    ("given", "words"),
    [
        (np.zeros((64, 64)), "got an array of shape (64, 64)"),
        (np.zeros((2, 3, 4, 5, 6, 7)), "got an array of shape (2, 3, 4, 5, 6, 7)"),
        (np.zeros((2, 5, 7, 16, 16)), "got an array of shape (2, 5, 7, 16, 16)"),
        ({"loss": torch.tensor(1.0)}, "this mapping has none of"),
        (42, "got a int"),
    ],
)
def test_what_is_not_a_video_gets_one_line_that_says_what_show_takes(given, words):
    with pytest.raises(InvalidInputError) as caught:
        videoae.show(given)
    assert "show() takes a video (T, H, W)" in str(caught.value) and words in str(caught.value)


def test_bad_settings_and_file_names_are_refused_with_what_to_give(tmp_path, videos):
    with pytest.raises(InvalidInputError, match="zoom must be from 1 to 8"):
        videoae.show(videos[0], zoom=50)
    with pytest.raises(InvalidInputError, match="frame_ms must be at least 10"):
        videoae.show(videos[0], frame_ms=5)
    with pytest.raises(InvalidInputError, match=r"ending in \.gif or \.mp4"):
        videoae.show(videos[0]).save(tmp_path / "clip.png")
    assert not (tmp_path / "clip.png").exists()


def test_show_is_on_the_front_door():
    from videoae.reporting.inline import show

    assert videoae.show is show
    assert isinstance(videoae.show(np.zeros((2, 8, 8), dtype=np.uint8)), Animation)
    with pytest.raises(AttributeError):
        videoae.no_such_function  # noqa: B018


def test_an_animation_too_large_for_a_notebook_is_refused_with_what_to_show_instead():
    many = np.zeros((2000, 20, 64, 64), dtype=np.uint8)  # 164 million pixel values
    with pytest.raises(InvalidInputError, match=r"more than a notebook shows well .* show fewer videos \(videos\[:16\]\)"):
        videoae.show(many)
    assert videoae.show(many[:16]).num_frames == 20
