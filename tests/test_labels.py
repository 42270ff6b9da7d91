"""Labels files and arrays: the task they make, and one line for each kind of wrong label."""

from __future__ import annotations

import numpy as np
import pytest

from videoae.data.labels import MULTI_LABEL, SINGLE_LABEL, check_labels, read_labels
from videoae.errors import InvalidInputError


def test_integer_classes_are_a_single_label_task(tmp_path):
    np.save(tmp_path / "labels.npy", np.array([0, 2, 1, 2], dtype=np.uint8))
    labels = read_labels(tmp_path / "labels.npy", 4)
    assert labels.task == SINGLE_LABEL and labels.num_classes == 3 and labels.class_names is None
    assert labels.targets.dtype == np.int64 and labels.targets.tolist() == [0, 2, 1, 2]


def test_multi_hot_rows_are_a_multi_label_task(tmp_path):
    np.save(tmp_path / "labels.npy", np.array([[1, 0, 1], [0, 1, 0]], dtype=bool))
    labels = read_labels(tmp_path / "labels.npy", 2)
    assert labels.task == MULTI_LABEL and labels.num_classes == 3 and labels.targets.dtype == np.float32


def test_text_files_hold_integers_or_class_names(tmp_path):
    (tmp_path / "classes.txt").write_text("1\n0\n 1 \n\n")
    assert read_labels(tmp_path / "classes.txt", 3).targets.tolist() == [1, 0, 1]
    (tmp_path / "names.csv").write_text("dog\ncat\ndog\n")
    labels = read_labels(tmp_path / "names.csv", 3)
    assert labels.class_names == ("cat", "dog") and labels.targets.tolist() == [1, 0, 1] and labels.num_classes == 2


BAD_ARRAYS = [
    (np.array([0, 1, 1]), "holds 3 labels but there are 4 videos"),
    (np.array([0, 1.5, 1, 0]), "not a whole number"),
    (np.array([0, np.nan, 1, 0]), "NaN or infinite"),
    (np.array([0, -1, 1, 0]), "negative class"),
    (np.array([0, 1, 10**6, 0]), "classes must be below"),
    (np.array([3, 3, 3, 3]), "at least two classes"),
    (np.array([[0, 1], [2, 0], [1, 1], [0, 0]]), "must be 0 or 1"),
    (np.zeros((4, 3)), "no video has any class"),
    (np.array(["a", "b", "a", "b"]), "must be numbers"),
    (np.zeros((4, 2, 2)), "must be (N,) classes or (N, K)"),
]


@pytest.mark.parametrize(("array", "message"), BAD_ARRAYS, ids=[message for _, message in BAD_ARRAYS])
def test_wrong_labels_get_one_line_that_says_what_is_wrong(tmp_path, array, message):
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        check_labels(array, 4)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("labels.txt", "label\n0\n1\n", "remove a header line"),
        ("labels.csv", "0,1\n1\n", "several values"),
        ("labels.txt", "0\n\n1\n", "line 2 is empty"),
        ("labels.txt", "", "is empty"),
        ("labels.npy", "not numpy", "not a NumPy .npy file"),
        ("labels.json", "[0, 1]", "give a .npy, .csv, .txt file"),
    ],
)
def test_unreadable_label_files_get_one_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        read_labels(tmp_path / name, 2)
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_labels(tmp_path / "missing.npy", 2)


def test_a_labels_file_of_python_objects_is_never_unpickled(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([0, {"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInputError, match="never unpickled"):
        read_labels(tmp_path / "objects.npy", 2)
