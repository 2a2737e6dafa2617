import numpy as np

from course import data


def test_digits_split_is_reproducible_stratified_and_scaled():
    a, b = data.digits(seed=0), data.digits(seed=0)
    assert a.x_train.shape == (1438, 64) and a.x_test.shape == (359, 64)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert a.x_train.dtype == np.float32 and 0 <= a.x_train.min() and a.x_train.max() <= 1
    assert set(np.bincount(a.y_test)) <= {35, 36, 37}  # ~20% of each class
    c = data.digits(seed=1)
    assert not np.array_equal(a.y_test, c.y_test) or not np.array_equal(a.x_test, c.x_test)


def test_digits_as_torch_images():
    s = data.digits(images=True, torch=True)
    assert tuple(s.x_train.shape) == (1438, 1, 8, 8)
    assert str(s.x_train.dtype) == "torch.float32" and str(s.y_train.dtype) == "torch.int64"


def test_digits_table_equals_scikit_learns_loader():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    table = data._digits_table()
    assert np.array_equal(table[:, :-1], bunch.data) and np.array_equal(table[:, -1], bunch.target)
