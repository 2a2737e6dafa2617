# ---
# jupyter:
#   kernelspec: {display_name: Python 3, language: python, name: python3}
#   course:
#     id: "0.2"
#     title: einops, einsum and tensor puzzles
#     minutes: 180
#     prerequisites: ["0.1"]
# ---

# %% [markdown]
# # 0.2 einops, einsum and tensor puzzles
#
# Transformer code is mostly moving axes around: split the model dimension into heads,
# put the heads in front, multiply queries by keys, merge the heads back. Written with
# `view`, `transpose` and `permute` these lines are where shape bugs hide. `einops` writes
# the same operations as a picture of the axes (`"b s (h d) -> b h s d"`), and `einsum`
# writes any product-and-sum of tensors as the index formula you would write on paper.
# The second half turns things round: you rebuild thirteen torch built-ins from almost
# nothing, so that you know what each one does to every element.
#
# **After this lesson you can**
# - write any reshape, transpose, pooling or tiling with `einops.rearrange`, `reduce` and `repeat`,
#   and check it against the `torch` built-in it replaces;
# - write batched products and attention scores with `einsum`, and read an einsum formula as maths;
# - build common operations (`cumsum`, `bincount`, `scatter_add`, ...) from `arange`, `where`,
#   indexing and broadcasting alone;
# - let `hypothesis` search for the input that breaks your function, and read the counterexample.
#
# **Prerequisites** 0.1 (NumPy and vectorisation: broadcasting, shapes, fancy indexing).
#
# **Time** about 3 hours: 75 minutes for the einops and einsum drills, the rest for the puzzles.
#
# **How to check your work** Each exercise is a function with a stub that raises
# `NotImplementedError`. Write the body, run its cell, then run the test cell under it: it
# says nothing when you are right, and what is wrong (shape, dtype, which element, the input
# that broke it) when you are not. From a terminal, `bootcamp check 0.2` runs the whole
# notebook and prints a table of every exercise.

# %%
import math

import einops
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from einops import rearrange, reduce, repeat
from hypothesis import strategies as st

from course import checks, data
from course.checks import CheckFailure
from course.checks.puzzles import arange, check_puzzle, sizes, square_matrices, tensors, vectors, where

torch.manual_seed(0)
digits = data.digits(images=True, torch=True)  # x: (n, 1, 8, 8) float32 in [0, 1], y: (n,) int64
print("training images", tuple(digits.x_train.shape), digits.x_train.dtype, "labels", tuple(digits.y_train.shape))

# %% [markdown]
# # Part 1: einops
#
# `einops.rearrange(x, pattern, **sizes)` names every axis of the input on the left of the
# arrow and every axis of the output on the right. A name in parentheses is a group: on the
# left, `(r c)` splits one axis into two (you give the size of all but one of them, here
# `r=...`); on the right, `(r h)` merges two axes into one, **the first name varying
# slowest** (exactly like `reshape`: row-major). A `1` is an axis of size one.
#
# ```python
# x.shape                                          # (6, 1, 8, 8): six 8x8 images
# rearrange(x, "n 1 h w -> n h w").shape           # (6, 8, 8): squeeze
# rearrange(x, "n 1 h w -> h (n w)").shape         # (8, 48): the images side by side
# rearrange(x, "(r c) 1 h w -> r c h w", r=2).shape  # (2, 3, 8, 8): six images as 2 rows of 3
# ```
#
# The same operations in plain torch are `reshape`, `permute`/`transpose` and `squeeze`; the
# tests compare your einops code with them. The gain is that a pattern documents itself and
# einops checks it: a size that does not divide, or an axis you forgot, is an error instead of
# silently scrambled data.
#
# ## Exercise 1: a grid of digits
#
# Turn `n = rows * cols` images of shape `(1, h, w)` into one `(rows*h, cols*w)` picture,
# image `k` at grid row `k // cols` and column `k % cols`. Think of the output row index as
# the pair (grid row, pixel row) and the output column index as (grid column, pixel column).
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · about 10 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# Split `n` into `(r c)` with `r=rows`, then merge `(r h)` for the output rows and `(c w)`
# for the output columns. Writing `(h r)` instead interleaves the images pixel row by pixel row.
# </details>

# %% nbgrader={"solution": true, "grade_id": "digits_grid"} exercise={"difficulty": 2, "importance": 4, "minutes": 10}
def digits_grid(images: torch.Tensor, rows: int) -> torch.Tensor:
    """Lay images out in a grid.

    images: (rows * cols, 1, h, w), any float dtype.
    Returns (rows * h, cols * w), same dtype; image k sits at grid row k // cols, column k % cols.
    """
    ### BEGIN SOLUTION
    return rearrange(images, "(r c) 1 h w -> (r h) (c w)", r=rows)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "digits_grid_test", "points": 2}
images = digits.x_train[:6]  # (6, 1, 8, 8)
checks.assert_shape("digits_grid", digits_grid(images, 2), (16, 24))
checks.assert_equal("digits_grid", digits_grid(images, 2)[8:16, 0:8], images[3, 0], name="grid row 1, column 0 (image 3)",
                    hint="image k goes to grid row k // cols: split n as '(r c)', r outermost")
# the same thing in plain torch: split n, put the pixel rows next to the grid rows, merge
checks.assert_equal("digits_grid", digits_grid(images, 2), images.reshape(2, 3, 8, 8).permute(0, 2, 1, 3).reshape(16, 24),
                    hint="merge '(r h)' for the output rows and '(c w)' for the columns, in that order")
### BEGIN HIDDEN TESTS
tall = torch.arange(2 * 3 * 4 * 5, dtype=torch.float64).reshape(6, 1, 4, 5)  # h != w, float64
checks.assert_equal("digits_grid", digits_grid(tall, 3), tall.reshape(3, 2, 4, 5).permute(0, 2, 1, 3).reshape(12, 10),
                    hint="images of 4x5 pixels: do not assume they are square")
checks.assert_equal("digits_grid", digits_grid(tall, 1), tall[:, 0].permute(1, 0, 2).reshape(4, 30))
checks.assert_equal("digits_grid", digits_grid(tall, 6), tall.reshape(24, 5))
flipped = tall.transpose(2, 3)  # non-contiguous, 5x4 images
checks.assert_equal("digits_grid", digits_grid(flipped, 2), flipped.reshape(2, 3, 5, 4).permute(0, 2, 1, 3).reshape(10, 12))
### END HIDDEN TESTS

# %% [markdown]
# Forty digits from the training set, four rows of ten (the cell shows a message instead
# until `digits_grid` works):

# %%
try:
    framed = F.pad(digits.x_train[:40], (1, 1, 1, 1), value=0.15)  # a thin grey frame around each 8x8 digit
    plt.figure(figsize=(9, 4))
    plt.imshow(digits_grid(framed, 4), cmap="gray_r", vmin=0, vmax=1)
    plt.title("digits_grid(digits.x_train[:40], rows=4); labels: " + " ".join(map(str, digits.y_train[:10].tolist())) + " ...")
    plt.axis("off")
    plt.show()
except NotImplementedError:
    plt.close()
    print("solve digits_grid to see the picture")

# %% [markdown]
# ## Exercise 2: split the heads
#
# A transformer's attention keeps `n_heads` heads of `d_head` dimensions side by side in one
# vector of `d_model = n_heads * d_head` numbers per position, head 0 first. To compute
# attention per head we want the heads as their own axis, in front of the sequence:
# `(batch, seq, n_heads * d_head) -> (batch, n_heads, seq, d_head)`. In plain torch this is
# `x.view(b, s, n_heads, d_head).transpose(1, 2)`.
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **The idea.** The last axis holds `n_heads` blocks of `d_head` numbers side by side. Name that
# axis as a group of two axes in the einops pattern, then move the head axis in front of the sequence.
#
# **A pointer.** In a group `(a b)`, the first name varies slowest. Which of heads and head
# features should vary slowest, if each head is a contiguous block? You have to tell `rearrange`
# one of the two sizes.
# </details>

# %% nbgrader={"solution": true, "grade_id": "split_heads"} exercise={"difficulty": 1, "importance": 5, "minutes": 5}
def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(batch, seq, n_heads * d_head) -> (batch, n_heads, seq, d_head), any dtype."""
    ### BEGIN SOLUTION
    return rearrange(x, "b s (h d) -> b h s d", h=n_heads)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "split_heads_test", "points": 1}
g = torch.Generator().manual_seed(0)
x = torch.randn(2, 5, 12, generator=g)  # batch 2, seq 5, 3 heads of 4
checks.assert_shape("split_heads", split_heads(x, 3), (2, 3, 5, 4))
checks.assert_close("split_heads", split_heads(x, 3), x.view(2, 5, 3, 4).transpose(1, 2),
                    hint="each head is a contiguous block of d_head numbers: the group is '(h d)', not '(d h)'")
### BEGIN HIDDEN TESTS
checks.assert_close("split_heads", split_heads(x, 1), x[:, None])
checks.assert_close("split_heads", split_heads(x, 12), x.view(2, 5, 12, 1).transpose(1, 2))
xt = torch.randn(12, 5, 2, generator=g, dtype=torch.float64).permute(2, 1, 0)  # non-contiguous
checks.assert_close("split_heads", split_heads(xt, 4), xt.reshape(2, 5, 4, 3).transpose(1, 2))
checks.assert_close("split_heads", split_heads(x[:, :1], 2), x[:, :1].view(2, 1, 2, 6).transpose(1, 2))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: cut images into patches
#
# A vision transformer reads an image as a sequence of square patches: a `(c, H, W)` image
# with patch size `p` becomes `(H/p) * (W/p)` tokens of `c * p * p` numbers each, patches in
# row-major order (left to right, then top to bottom) and each patch flattened channel first,
# then its pixel rows, then its pixel columns. torch's built-in for this is
# `F.unfold(x, kernel_size=p, stride=p)`, which returns `(b, c*p*p, n_patches)`: the test
# compares with it, transposed.
#
# Picture the pixel row index `y` of the image as the pair (patch row `y // p`, row inside the
# patch `y % p`), that is, `y` is `(ph p1)` with `p1` of size `p`.
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · about 10 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **The idea.** Each image axis is really two: which patch, and where inside the patch. Name both in
# the pattern's left side, then regroup: all patches in one axis, and each patch's pixels (with
# their channels) flattened in the other.
#
# **A pointer.** A group like `(ph p1)` splits an axis; `rearrange` needs to know one of the sizes
# in each group. Check the order of `c`, `p1`, `p2` in the output against the docstring.
# </details>

# %% nbgrader={"solution": true, "grade_id": "patchify"} exercise={"difficulty": 3, "importance": 3, "minutes": 10}
def patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """(batch, c, H, W) -> (batch, (H/p) * (W/p), c * p * p); H and W are multiples of p.

    Patches in row-major order; each flattened as (channel, row in patch, column in patch).
    """
    ### BEGIN SOLUTION
    return rearrange(images, "b c (ph p1) (pw p2) -> b (ph pw) (c p1 p2)", p1=p, p2=p)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "patchify_test", "points": 3}
x = digits.x_train[:3]  # (3, 1, 8, 8)
checks.assert_shape("patchify", patchify(x, 4), (3, 4, 16))
checks.assert_equal("patchify", patchify(x, 4)[0, 1], x[0, 0, :4, 4:].reshape(16), name="patch 1 (top right) of image 0",
                    hint="patch 1 is the top-right quarter: patches go left to right first")
checks.assert_equal("patchify", patchify(x, 4), F.unfold(x, kernel_size=4, stride=4).transpose(1, 2))
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(1)
rgb = torch.randn(2, 3, 4, 6, generator=g)  # 3 channels, H != W
checks.assert_equal("patchify", patchify(rgb, 2), F.unfold(rgb, kernel_size=2, stride=2).transpose(1, 2),
                    hint="with 3 channels each patch is flattened channel first: (c p1 p2)")
checks.assert_equal("patchify", patchify(rgb, 1), rgb.flatten(2).transpose(1, 2))
checks.assert_equal("patchify", patchify(x, 8), x.reshape(3, 1, 64))
nc = rgb.transpose(2, 3)  # non-contiguous (2, 3, 6, 4)
checks.assert_equal("patchify", patchify(nc, 2), F.unfold(nc, kernel_size=2, stride=2).transpose(1, 2))
### END HIDDEN TESTS

# %% [markdown]
# The four 4x4 patches of the first digit, in the order `patchify` returns them:

# %%
try:
    first = patchify(digits.x_train[:1], 4)[0]  # (4, 16)
    fig, axes = plt.subplots(1, 5, figsize=(8, 1.9))
    axes[0].imshow(digits.x_train[0, 0], cmap="gray_r", vmin=0, vmax=1)
    axes[0].set_title(f"digit {digits.y_train[0].item()}")
    for i, ax in enumerate(axes[1:]):
        ax.imshow(rearrange(first[i], "(p1 p2) -> p1 p2", p1=4), cmap="gray_r", vmin=0, vmax=1)  # unflatten
        ax.set_title(f"patch {i}")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    plt.show()
except NotImplementedError:
    plt.close()
    print("solve patchify to see the picture")

# %% [markdown]
# ## Exercise 4: max-pooling with `reduce`
#
# `einops.reduce(x, pattern, op)` is `rearrange` plus a reduction over every axis that is on
# the left of the arrow but not on the right; `op` is `"max"`, `"min"`, `"mean"`, `"sum"` or
# `"prod"`. For example, `reduce(x, "b c h w -> b c", "mean")` is global average pooling,
# `x.mean(dim=(2, 3))`.
#
# Max-pooling with a `k x k` window and stride `k` keeps the largest value of each
# non-overlapping `k x k` block: `(b, c, H, W) -> (b, c, H/k, W/k)`, like `F.max_pool2d(x, k)`.
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# Split each spatial axis into (block, position in block), keep the blocks, drop the positions:
# `"b c (h k1) (w k2) -> b c h w"`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "max_pool"} exercise={"difficulty": 2, "importance": 3, "minutes": 5}
def max_pool(x: torch.Tensor, k: int) -> torch.Tensor:
    """(batch, c, H, W) -> (batch, c, H/k, W/k): the max of each k x k block; H, W multiples of k."""
    ### BEGIN SOLUTION
    return reduce(x, "b c (h k1) (w k2) -> b c h w", "max", k1=k, k2=k)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "max_pool_test", "points": 2}
x = digits.x_train[:4]
checks.assert_shape("max_pool", max_pool(x, 2), (4, 1, 4, 4))
checks.assert_close("max_pool", max_pool(x, 2), F.max_pool2d(x, 2),
                    hint="reduce with 'max' over the position inside each block: '(h k1) (w k2) -> h w'")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(2)
neg = -torch.rand(2, 3, 6, 4, generator=g, dtype=torch.float64) - 1  # all negative, H != W, float64
checks.assert_close("max_pool", max_pool(neg, 2), F.max_pool2d(neg, 2))
checks.assert_close("max_pool", max_pool(neg, 1), neg)
checks.assert_close("max_pool", max_pool(x, 8), F.max_pool2d(x, 8))
nc = neg.transpose(2, 3)
checks.assert_close("max_pool", max_pool(nc, 2), F.max_pool2d(nc, 2))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: upsampling with `repeat`
#
# `einops.repeat` is the opposite of `reduce`: axes that appear only on the right are new,
# and their sizes must be given. `repeat(x, "h w -> h w c", c=3)` copies a grey image into
# three channels; `repeat(x, "h w -> (2 h) w")` stacks two copies of the image vertically.
#
# Nearest-neighbour upsampling by an integer factor `k` turns every pixel into a `k x k`
# block of copies: `(b, c, H, W) -> (b, c, k*H, k*W)`, like
# `F.interpolate(x, scale_factor=k, mode="nearest")`.
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵⚪⚪⚪ · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# Where does the copy index go? `(h k1)` makes each pixel row repeat `k` times in a row
# (stretching); `(k1 h)` repeats the whole image `k` times (tiling).
# </details>

# %% nbgrader={"solution": true, "grade_id": "upsample"} exercise={"difficulty": 2, "importance": 2, "minutes": 5}
def upsample(x: torch.Tensor, k: int) -> torch.Tensor:
    """(batch, c, H, W) -> (batch, c, k*H, k*W): every pixel becomes a k x k block of copies."""
    ### BEGIN SOLUTION
    return repeat(x, "b c h w -> b c (h k1) (w k2)", k1=k, k2=k)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "upsample_test", "points": 2}
x = digits.x_train[:2]
checks.assert_shape("upsample", upsample(x, 3), (2, 1, 24, 24))
checks.assert_equal("upsample", upsample(x, 3), F.interpolate(x, scale_factor=3, mode="nearest"),
                    hint="'(k1 h)' tiles the image; '(h k1)' repeats each pixel")
### BEGIN HIDDEN TESTS
g = torch.Generator().manual_seed(3)
rect = torch.randn(1, 2, 3, 5, generator=g, dtype=torch.float64)
checks.assert_equal("upsample", upsample(rect, 2), F.interpolate(rect, scale_factor=2, mode="nearest"))
checks.assert_equal("upsample", upsample(rect, 1), rect)
checks.assert_equal("upsample", upsample(rect.transpose(2, 3), 2), F.interpolate(rect.transpose(2, 3), scale_factor=2, mode="nearest"))
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6: share keys between heads (grouped-query attention)
#
# Many recent language models (Llama 2 70B, Mistral) save memory with *grouped-query
# attention*: `n_heads` query heads share `n_groups` key heads, each key head serving
# `n_rep = n_heads / n_groups` consecutive query heads. Before the usual attention code runs,
# the keys are expanded so that query head `i` finds its key head at position `i`:
# `(b, n_groups, s, d) -> (b, n_groups * n_rep, s, d)` with key head `g` copied to heads
# `g*n_rep, ..., g*n_rep + n_rep - 1`. In torch: `torch.repeat_interleave(k, n_rep, dim=1)`.
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **The idea.** Each of the `g` key-value heads is shared by `n_rep` query heads that sit next to
# each other: repeat each head `n_rep` times in place, do not tile the whole stack.
#
# **A pointer.** `einops.repeat` with a new axis inside a group. The order inside the group decides
# between heads `0, 0, 1, 1, 2, 2` and `0, 1, 2, 0, 1, 2`: which name must vary slowest?
# </details>

# %% nbgrader={"solution": true, "grade_id": "expand_kv"} exercise={"difficulty": 2, "importance": 3, "minutes": 5}
def expand_kv(k: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(batch, n_groups, seq, d_head) -> (batch, n_groups * n_rep, seq, d_head), each group n_rep times in a row."""
    ### BEGIN SOLUTION
    return repeat(k, "b g s d -> b (g r) s d", r=n_rep)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "expand_kv_test", "points": 2}
g = torch.Generator().manual_seed(4)
keys = torch.randn(2, 3, 5, 4, generator=g)
checks.assert_shape("expand_kv", expand_kv(keys, 2), (2, 6, 5, 4))
checks.assert_equal("expand_kv", expand_kv(keys, 2), torch.repeat_interleave(keys, 2, dim=1),
                    hint="each key head is copied n_rep times in a row: '(g r)', not '(r g)'")
### BEGIN HIDDEN TESTS
checks.assert_equal("expand_kv", expand_kv(keys, 1), keys)
one = keys[:, :1]
checks.assert_equal("expand_kv", expand_kv(one, 4), one.expand(2, 4, 5, 4))
nc = keys.transpose(2, 3)
checks.assert_equal("expand_kv", expand_kv(nc, 3), torch.repeat_interleave(nc, 3, dim=1))
### END HIDDEN TESTS

# %% [markdown]
# # Part 2: einsum
#
# `einsum` computes a sum of products, written as the index formula. Every input gets one
# letter (or, in `einops.einsum`, one word) per axis; an index that appears in an input but
# not in the output is **summed over**, an index that appears in the output is kept. So
#
# $$C_{bik} = \sum_j A_{bij} B_{bjk} \quad\text{is}\quad
# \texttt{torch.einsum("bij,bjk->bik", A, B)} = \texttt{einops.einsum(A, B, "batch i j, batch j k -> batch i k")}.$$
#
# A few more, to read before writing your own:
#
# | formula | einsum | built-in |
# |---|---|---|
# | $\sum_i x_i y_i$ | `"i,i->"` | `x @ y` |
# | $x_i y_j$ | `"i,j->ij"` | `torch.outer(x, y)` |
# | $\sum_i A_{ii}$ | `"ii->"` | `torch.trace(A)` |
# | $\sum_j A_{ij} x_j$ | `"ij,j->i"` | `A @ x` |
# | $A_{ji}$ | `"ij->ji"` | `A.T` |
#
# `torch.einsum` takes the pattern first and single letters; `einops.einsum` takes the
# tensors first and whole words, which is easier to read when there are many axes. Use either.
#
# ## Exercise 7: batched matrix product
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# The formula above, letter for letter.
# </details>

# %% nbgrader={"solution": true, "grade_id": "batched_matmul"} exercise={"difficulty": 1, "importance": 4, "minutes": 5}
def batched_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(batch, i, j) @ (batch, j, k) -> (batch, i, k) with einsum; float dtypes."""
    ### BEGIN SOLUTION
    return einops.einsum(a, b, "batch i j, batch j k -> batch i k")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "batched_matmul_test", "points": 1}
g = torch.Generator().manual_seed(5)
a, b = torch.randn(3, 4, 5, generator=g), torch.randn(3, 5, 2, generator=g)
checks.assert_shape("batched_matmul", batched_matmul(a, b), (3, 4, 2))
checks.assert_close("batched_matmul", batched_matmul(a, b), torch.bmm(a, b),
                    hint="sum over j, the index shared by a's last axis and b's middle one")
### BEGIN HIDDEN TESTS
a64, b64 = a.double(), b.double()
checks.assert_close("batched_matmul", batched_matmul(a64, b64), torch.bmm(a64, b64))
at = torch.randn(3, 5, 4, generator=g).transpose(1, 2)  # non-contiguous
checks.assert_close("batched_matmul", batched_matmul(at, b), torch.bmm(at, b))
checks.assert_close("batched_matmul", batched_matmul(a[:, :, :1], b[:, :1]), a[:, :, :1] * b[:, :1])  # j = 1: outer products
checks.assert_close("batched_matmul", batched_matmul(a[:1], b[:1]), a[0] @ b[0][None])
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 8: attention scores
#
# In a transformer's attention, each query vector is compared with every key vector of the
# same head by a dot product, scaled by $1/\sqrt{d_\text{head}}$ so that the scores stay of
# order one whatever the head size (Vaswani et al. 2017, section 3.2.1):
#
# $$\text{scores}_{b,h,q,k} = \frac{1}{\sqrt{d}} \sum_{d'} Q_{b,h,q,d'}\, K_{b,h,k,d'}.$$
#
# In plain torch this is `q @ k.transpose(-1, -2) / math.sqrt(d)`. Queries and keys may have
# different lengths (when a model attends over a cache of past tokens, say).
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · about 10 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **The idea.** Each score is the dot product of one query with one key of the same batch and head,
# scaled by one over the square root of the head size.
#
# **A pointer.** In an einsum, an index that appears in both inputs but not in the output is summed
# over. Which index is that here, and does either input need transposing for it?
# </details>

# %% nbgrader={"solution": true, "grade_id": "attention_scores"} exercise={"difficulty": 2, "importance": 5, "minutes": 10}
def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """q: (batch, heads, q_len, d_head), k: (batch, heads, k_len, d_head), float.

    Returns (batch, heads, q_len, k_len): q . k / sqrt(d_head) for every query and key.
    """
    ### BEGIN SOLUTION
    return einops.einsum(q, k, "b h q d, b h k d -> b h q k") / math.sqrt(q.shape[-1])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "attention_scores_test", "points": 2}
g = torch.Generator().manual_seed(6)
q, k = torch.randn(2, 3, 4, 8, generator=g), torch.randn(2, 3, 6, 8, generator=g)
checks.assert_shape("attention_scores", attention_scores(q, k), (2, 3, 4, 6),
                    hint="the output is (batch, heads, queries, keys)")
checks.assert_close("attention_scores", attention_scores(q, k), q @ k.transpose(-1, -2) / math.sqrt(8),
                    hint="divide by sqrt(d_head), the size of the last axis")
### BEGIN HIDDEN TESTS
qq = torch.randn(1, 1, 5, 1, generator=g, dtype=torch.float64)  # d_head = 1, float64
checks.assert_close("attention_scores", attention_scores(qq, qq), qq @ qq.transpose(-1, -2))
kt = torch.randn(2, 3, 8, 6, generator=g).transpose(-1, -2)  # non-contiguous keys
checks.assert_close("attention_scores", attention_scores(q, kt), q @ kt.transpose(-1, -2) / math.sqrt(8))
checks.assert_close("attention_scores", attention_scores(q[:, :, :1], k), q[:, :, :1] @ k.transpose(-1, -2) / math.sqrt(8))
### END HIDDEN TESTS

# %% [markdown]
# What do scores look like? Take forty test digits sorted by label and let every image, as
# a 64-number vector, be both a query and a key of a single head. Images of the same digit
# point in similar directions, so their dot products are large: the score matrix shows a
# bright block for each digit on the diagonal (and some digits that look alike, like 1 and 7,
# lighting each other up). A trained attention head learns its queries and keys so that the
# blocks land where the information it needs is.

# %%
try:
    order = torch.argsort(digits.y_test[:40], stable=True)
    flat = rearrange(digits.x_test[:40][order], "n 1 h w -> 1 1 n (h w)")  # 1 batch, 1 head, 40 tokens, d = 64
    heat = attention_scores(flat, flat)[0, 0]
    labels = digits.y_test[:40][order].tolist()
    plt.figure(figsize=(5.5, 4.6))
    plt.imshow(heat, cmap="viridis")
    plt.colorbar(label="score")
    plt.xticks(range(40), labels, fontsize=6)
    plt.yticks(range(40), labels, fontsize=6)
    plt.xlabel("key (digit label)")
    plt.ylabel("query (digit label)")
    plt.title("attention_scores between 40 digits")
    plt.show()
except NotImplementedError:
    plt.close()
    print("solve attention_scores to see the picture")

# %% [markdown]
# ## Exercise 9: attention, end to end
#
# Put the pieces together. The attention pattern is the softmax of the scores over the keys;
# each query's output is the pattern-weighted average of the value vectors; the heads are
# then concatenated back into one vector per position (head 0 first):
#
# $$\text{pattern}_{b,h,q,k} = \operatorname{softmax}_k(\text{scores}_{b,h,q,k}), \qquad
# \text{out}_{b,q,(h,d)} = \sum_k \text{pattern}_{b,h,q,k}\, V_{b,h,k,d}.$$
#
# With `causal=True`, a query may only look at keys at its own position or before: set the
# scores of keys `k > q` to $-\infty$ before the softmax (so their weight is exactly 0).
# `torch.where` and two `arange`s build that mask; it is the `triu` puzzle of Part 3 in disguise.
#
# The test compares with torch's fused kernel `F.scaled_dot_product_attention`, whose output
# keeps the heads apart, `(batch, heads, q_len, d_head)`.
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵🔵🔵 · about 20 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# **The idea.** Attention in four steps: scores (you wrote that function), a causal mask when asked
# (a query may not see later keys), a softmax over the keys, then the weighted sum of the values,
# with the heads put back side by side in the last axis.
#
# **A pointer.** A mask can be built by comparing a row of key positions with a column of query
# positions; `torch.where` puts minus infinity where it is False. The weighted sum is one einsum
# over the key axis, and one `rearrange` merges `h` and `d`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "attend"} exercise={"difficulty": 3, "importance": 5, "minutes": 20}
def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """Multi-head attention with the heads merged at the end.

    q: (batch, heads, q_len, d_head); k, v: (batch, heads, k_len, d_head); float.
    causal=True (needs q_len == k_len): query i sees keys 0..i only.
    Returns (batch, q_len, heads * d_head), head 0's d_head numbers first.
    """
    ### BEGIN SOLUTION
    scores = attention_scores(q, k)
    if causal:
        mask = torch.arange(k.shape[-2])[None, :] <= torch.arange(q.shape[-2])[:, None]
        scores = torch.where(mask, scores, float("-inf"))
    pattern = scores.softmax(dim=-1)
    out = einops.einsum(pattern, v, "b h q k, b h k d -> b q h d")
    return rearrange(out, "b q h d -> b q (h d)")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "attend_test", "points": 3}
def sdpa_merged(q, k, v, causal=False):
    """torch's fused attention, heads merged the same way: the reference for attend."""
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # (b, h, q, d)
    return out.transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)


g = torch.Generator().manual_seed(7)
q, k, v = torch.randn(3, 2, 3, 5, 4, generator=g).unbind(0)  # batch 2, 3 heads, 5 tokens, d_head 4
with checks.tolerance(rtol=1e-5, atol=1e-6):
    checks.assert_shape("attend", attend(q, k, v), (2, 5, 12), hint="merge the heads: (b, q, h*d)")
    checks.assert_close("attend", attend(q, k, v), sdpa_merged(q, k, v),
                        hint="softmax over the keys (the last axis of the scores), then sum over k with v")
    checks.assert_close("attend", attend(q, k, v, causal=True), sdpa_merged(q, k, v, causal=True),
                        hint="causal: key j is allowed for query i when j <= i; masked scores become -inf")
### BEGIN HIDDEN TESTS
with checks.tolerance(rtol=1e-5, atol=1e-6):
    kk, vv = torch.randn(2, 2, 3, 7, 4, generator=g).unbind(0)  # 7 keys for 5 queries
    checks.assert_close("attend", attend(q, kk, vv), sdpa_merged(q, kk, vv))
    checks.assert_close("attend", attend(q[:, :1], k[:, :1], v[:, :1], causal=True),
                        sdpa_merged(q[:, :1], k[:, :1], v[:, :1], causal=True))
    q1 = q[:, :, :1]  # a single token: causal attention returns its own value
    checks.assert_close("attend", attend(q1, k[:, :, :1], v[:, :, :1], causal=True), v[:, :, :1].transpose(1, 2).reshape(2, 1, 12))
    big = 30 * q  # large scores: a softmax that does not subtract the max overflows
    checks.assert_close("attend", attend(big, k, v, causal=True), sdpa_merged(big, k, v, causal=True))
    q64, k64, v64 = q.double(), k.double(), v.double().transpose(-1, -2).contiguous().transpose(-1, -2)
    checks.assert_close("attend", attend(q64, k64, v64, causal=True), sdpa_merged(q64, k64, v64, causal=True))
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** Five lines of einops and einsum are a complete multi-head attention
# layer, minus the learned projections, and they agree with PyTorch's fused kernel to about
# $10^{-6}$. Every reshape in them says which axes it touches, so the two classic bugs of
# attention code (merging heads with `(d h)` instead of `(h d)`, and summing over the wrong
# axis) are visible in the pattern rather than hidden in a `view`. The causal mask was built
# from two `arange`s and a comparison: that trick is the subject of Part 3.

# %% [markdown]
# ## Why this matters for safety
#
# Einsum is the notation in which transformer circuits are written down. Elhage et al. (2021),
# "A Mathematical Framework for Transformer Circuits", read each attention head as two low-rank
# matrices, $W_Q^\top W_K$ (where to attend) and $W_O W_V$ (what to move), and the composition
# scores and OV circuits of lessons 3.1 and 3.2 are einsums over named axes such as `head`,
# `d_model` and `d_head`. A researcher auditing a model writes such products all day; with named
# axes, a transposed weight or a head axis summed by mistake is an error you can see rather than
# a wrong plot you believe. Grouped-query attention (exercise 6) is used by several open-weight
# model families, so an analysis written for one key per head gives wrong answers on them:
# knowing the shapes tells you when a tool needs adapting.

# %% [markdown]
# # Part 3: tensor puzzles
#
# These puzzles are in the spirit of Sasha Rush's
# [Tensor Puzzles](https://github.com/srush/Tensor-Puzzles): rebuild a torch built-in using
# almost nothing, so that you understand broadcasting and indexing well enough to write any
# of them in one line. Every puzzle has a one-line solution.
#
# **The rules.** Inside a puzzle you may use only:
#
# - `arange(n)` (the int64 tensor `[0, 1, ..., n-1]`) and `where(cond, x, y)`
#   (`torch.arange` and `torch.where`; `x` and `y` may be tensors or numbers);
# - the operators: `@`, `+ - * / // % **`, comparisons `< <= == != >= >`, and `& | ~`;
# - indexing and slicing of any kind: `a[1:]`, `a[:, None]` (a new axis), `a[idx]` with an
#   integer or boolean tensor `idx`, `a[i, j]` with two index tensors;
# - `a.shape`, `len(...)` and `int(...)`;
# - the other puzzles: `cumsum` may call `triu`, `sum` may call `ones`. (Solve them in order.)
#
# Nothing else may be called: no `torch.cumsum`, no methods like `a.sum()`, `a.flip()` or
# `a.unsqueeze()` (write `a[:, None]`), no `range`, no Python loops or comprehensions. The
# result must be a torch tensor of the dtype the built-in returns (int64 here: every puzzle
# works on integers).
#
# **How the puzzles are tested.** `check_puzzle(name, fn, reference, inputs, examples)` from
# `course.checks.puzzles` does three things:
#
# 1. it reads your function's source and rejects any call the rules do not allow, naming it
#    and its line;
# 2. it runs the `examples`, small hand-picked inputs;
# 3. it asks [hypothesis](https://hypothesis.readthedocs.io) to search many random inputs
#    (`inputs` is a hypothesis *strategy* drawing the arguments: `vectors()` draws int64
#    vectors of length 0 to 8, `sizes()` integers 0 to 8) for one where your function and the
#    torch built-in `reference` disagree. When it finds one it *shrinks* it to the smallest
#    input that still fails, and the message shows that input. The search is deterministic
#    (the same inputs every run) and takes about a second.
#
# Here is what the messages look like, for two attempts at flipping a vector:

# %%
def flip_with_torch(a):
    return torch.flip(a, dims=(0,))


def flip_off_by_one(a):
    return a[a.shape[0] - arange(a.shape[0])]  # forgot the - 1


for attempt in (flip_with_torch, flip_off_by_one):
    try:
        check_puzzle("flip (demo)", attempt, lambda a: torch.flip(a, (0,)), st.tuples(vectors()))
    except CheckFailure as err:
        print(err, end="\n\n")

# %% [markdown]
# The second message is hypothesis at work: the bug shows on any non-empty vector, and
# hypothesis shrank the failing input to the simplest one, a vector of length one. Note that
# it raised `IndexError` rather than returning a wrong value: `a[1]` does not exist.
#
# ## Puzzle 1: `ones`
#
# `ones(i)` is `torch.ones(i, dtype=torch.long)`: a vector of `i` ones.
# Example: `ones(3) = tensor([1, 1, 1])`.
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵⚪⚪⚪ · about 3 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# `arange(i)` already has the right shape; make every value 1 with arithmetic, or with `where`
# and a condition that is always true.
# </details>

# %% nbgrader={"solution": true, "grade_id": "ones"} exercise={"difficulty": 1, "importance": 2, "minutes": 3}
def ones(i: int) -> torch.Tensor:
    """(i,) int64 tensor of ones."""
    ### BEGIN SOLUTION
    return where(arange(i) >= 0, 1, 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ones_test", "points": 1}
check_puzzle("ones", ones, lambda i: torch.ones(i, dtype=torch.long), st.tuples(sizes()), examples=[(3,)])
### BEGIN HIDDEN TESTS
check_puzzle("ones", ones, lambda i: torch.ones(i, dtype=torch.long), st.tuples(sizes(0, 1000)),
             examples=[(0,), (1,), (1000,)], max_examples=20)
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 2: `sum`
#
# `sum(a)` is `torch.sum(a)` for a vector `a`: a 0-dimensional tensor (a scalar tensor).
# Example: `sum(tensor([1, 2, 3])) = tensor(6)`.
#
# (This puzzle shadows Python's own `sum` in this notebook, as in the original puzzles.)
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · about 3 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# A dot product with a vector of ones adds everything up: `@` between two vectors gives a
# 0-dimensional tensor.
# </details>

# %% nbgrader={"solution": true, "grade_id": "sum"} exercise={"difficulty": 1, "importance": 3, "minutes": 3}
def sum(a: torch.Tensor) -> torch.Tensor:
    """a: (i,) int64. Returns the 0-d int64 tensor a[0] + a[1] + ... (0 for an empty a)."""
    ### BEGIN SOLUTION
    return ones(a.shape[0]) @ a
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sum_test", "points": 1}
check_puzzle("sum", sum, lambda a: torch.sum(a), st.tuples(vectors()), examples=[(torch.tensor([1, 2, 3]),)],
             hint="the result is 0-dimensional: a vector @ a vector")
### BEGIN HIDDEN TESTS
check_puzzle("sum", sum, lambda a: torch.sum(a), st.tuples(vectors(-10**12, 10**12, max_len=30)),
             examples=[(torch.tensor([], dtype=torch.long),), (torch.arange(20)[::3],), (torch.tensor([2**40, 2**40]),)],
             max_examples=25, hint="keep the integers: a float32 sum loses precision on big values")
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 3: `outer`
#
# `outer(a, b)` is `torch.outer(a, b)`: `out[i, j] = a[i] * b[j]`.
# Example: `outer(tensor([1, 2]), tensor([3, 4, 5])) = tensor([[3, 4, 5], [6, 8, 10]])`.
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · about 3 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# Broadcasting a column `(i, 1)` against a row `(1, j)` gives `(i, j)`; `a[:, None]` is a column.
# </details>

# %% nbgrader={"solution": true, "grade_id": "outer"} exercise={"difficulty": 1, "importance": 4, "minutes": 3}
def outer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a: (i,), b: (j,) int64. Returns (i, j) int64 with out[i, j] = a[i] * b[j]."""
    ### BEGIN SOLUTION
    return a[:, None] * b[None, :]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "outer_test", "points": 1}
check_puzzle("outer", outer, torch.outer, st.tuples(vectors(), vectors()),
             examples=[(torch.tensor([1, 2]), torch.tensor([3, 4, 5]))],
             hint="rows follow a, columns follow b: a[:, None] * b[None, :]")
### BEGIN HIDDEN TESTS
check_puzzle("outer", outer, torch.outer, st.tuples(vectors(max_len=1), vectors(max_len=12)),
             examples=[(torch.arange(5)[::2], torch.arange(10)[1::3]), (torch.tensor([3]), torch.tensor([], dtype=torch.long))],
             max_examples=25)
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 4: `diag`
#
# `diag(a)` is `torch.diagonal(a)` for a square matrix: `out[i] = a[i, i]`.
# Example: `diag(tensor([[1, 2], [3, 4]])) = tensor([1, 4])`.
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · about 3 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# Indexing with two integer tensors pairs them up: `a[rows, cols]` is
# `[a[rows[0], cols[0]], a[rows[1], cols[1]], ...]`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "diag"} exercise={"difficulty": 1, "importance": 3, "minutes": 3}
def diag(a: torch.Tensor) -> torch.Tensor:
    """a: (i, i) int64. Returns (i,) int64, the main diagonal."""
    ### BEGIN SOLUTION
    return a[arange(a.shape[0]), arange(a.shape[0])]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "diag_test", "points": 1}
check_puzzle("diag", diag, torch.diagonal, st.tuples(square_matrices()), examples=[(torch.tensor([[1, 2], [3, 4]]),)],
             hint="a[arange(n), arange(n)] picks a[0, 0], a[1, 1], ...; a[arange(n)][:, arange(n)] is the whole matrix")
### BEGIN HIDDEN TESTS
m = torch.arange(36).reshape(6, 6)
check_puzzle("diag", diag, torch.diagonal, st.tuples(square_matrices(max_n=12)),
             examples=[(m.T,), (m[::2, ::2],), (torch.tensor([[7]]),), (torch.zeros(0, 0, dtype=torch.long),)], max_examples=25)
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 5: `eye`
#
# `eye(j)` is `torch.eye(j, dtype=torch.long)`: the `j x j` identity matrix, 1 where the row
# index equals the column index and 0 elsewhere.
# Example: `eye(2) = tensor([[1, 0], [0, 1]])`.
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# `arange(j)[:, None]` is the row index of every cell and `arange(j)` its column index;
# compare them, broadcasting to `(j, j)`, then turn the booleans into 1 and 0 with `where`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "eye"} exercise={"difficulty": 2, "importance": 4, "minutes": 5}
def eye(j: int) -> torch.Tensor:
    """(j, j) int64 identity matrix."""
    ### BEGIN SOLUTION
    return where(arange(j)[:, None] == arange(j), 1, 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "eye_test", "points": 1}
check_puzzle("eye", eye, lambda j: torch.eye(j, dtype=torch.long), st.tuples(sizes()), examples=[(2,)],
             hint="the result is int64 ones and zeros, not booleans: where(condition, 1, 0)")
### BEGIN HIDDEN TESTS
check_puzzle("eye", eye, lambda j: torch.eye(j, dtype=torch.long), st.tuples(sizes(0, 100)),
             examples=[(0,), (1,), (64,)], max_examples=20)
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 6: `triu`
#
# `triu(j)` is `torch.triu(torch.ones(j, j, dtype=torch.long))`: 1 on and above the diagonal
# (column index >= row index), 0 below.
# Example: `triu(3) = tensor([[1, 1, 1], [0, 1, 1], [0, 0, 1]])`.
#
# Its transpose, the lower triangle, is exactly the causal mask of Exercise 9.
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵🔵⚪ · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# Like `eye`, with another comparison.
# </details>

# %% nbgrader={"solution": true, "grade_id": "triu"} exercise={"difficulty": 2, "importance": 4, "minutes": 5}
def triu(j: int) -> torch.Tensor:
    """(j, j) int64: out[r, c] = 1 if c >= r else 0."""
    ### BEGIN SOLUTION
    return where(arange(j)[:, None] <= arange(j), 1, 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "triu_test", "points": 1}
check_puzzle("triu", triu, lambda j: torch.triu(torch.ones(j, j, dtype=torch.long)), st.tuples(sizes()), examples=[(3,)],
             hint="ones where the column index is >= the row index; is your triangle the lower one?")
### BEGIN HIDDEN TESTS
check_puzzle("triu", triu, lambda j: torch.triu(torch.ones(j, j, dtype=torch.long)), st.tuples(sizes(0, 100)),
             examples=[(0,), (1,), (50,)], max_examples=20)
### END HIDDEN TESTS

# %% [markdown]
# `eye`, `triu` and the causal mask of Exercise 9 (`triu(n).T`: query `i` sees keys `0..i`)
# are all one comparison of two `arange`s:

# %%
try:
    fig, axes = plt.subplots(1, 3, figsize=(8, 2.8))
    for ax, (title, m) in zip(axes, [("eye(8)", eye(8)), ("triu(8)", triu(8)), ("triu(8).T: causal mask", triu(8).T)]):
        ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
        ax.set_title(title)
        ax.set_xlabel("column (key)")
        ax.set_ylabel("row (query)")
    plt.tight_layout()
    plt.show()
except NotImplementedError:
    plt.close()
    print("solve eye and triu to see the picture")

# %% [markdown]
# ## Puzzle 7: `cumsum`
#
# `cumsum(a)` is `torch.cumsum(a, 0)`: `out[i] = a[0] + a[1] + ... + a[i]`.
# Example: `cumsum(tensor([1, 2, 3])) = tensor([1, 3, 6])`.
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# `out[i] = sum over j of a[j] * [j <= i]`: a vector times a 0/1 matrix. Which puzzle gives
# the matrix `[j <= i]`, and on which side of `@` does `a` go?
# </details>

# %% nbgrader={"solution": true, "grade_id": "cumsum"} exercise={"difficulty": 2, "importance": 3, "minutes": 5}
def cumsum(a: torch.Tensor) -> torch.Tensor:
    """a: (i,) int64. Returns (i,) int64 running sums."""
    ### BEGIN SOLUTION
    return a @ triu(a.shape[0])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "cumsum_test", "points": 2}
check_puzzle("cumsum", cumsum, lambda a: torch.cumsum(a, 0), st.tuples(vectors()), examples=[(torch.tensor([1, 2, 3]),)],
             hint="a @ triu(n) sums a[j] for j <= i; triu(n) @ a sums the other way (a reversed cumsum)")
### BEGIN HIDDEN TESTS
check_puzzle("cumsum", cumsum, lambda a: torch.cumsum(a, 0), st.tuples(vectors(-10**12, 10**12, max_len=40)),
             examples=[(torch.tensor([], dtype=torch.long),), (torch.tensor([5]),), (torch.arange(30)[::4],)], max_examples=25)
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 8: `diff`
#
# `diff(a)`: `out[0] = a[0]` and `out[i] = a[i] - a[i-1]` for `i >= 1`, the inverse of
# `cumsum`. It is `torch.diff(a, prepend=tensor([0]))`.
# Example: `diff(tensor([1, 3, 6])) = tensor([1, 2, 3])`.
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵⚪⚪⚪ · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# `a[arange(n) - 1]` is `a` shifted by one (its first element wraps around to `a[-1]`);
# use `where(arange(n) == 0, ..., ...)` to treat position 0 differently.
# </details>

# %% nbgrader={"solution": true, "grade_id": "diff"} exercise={"difficulty": 2, "importance": 2, "minutes": 5}
def diff(a: torch.Tensor) -> torch.Tensor:
    """a: (i,) int64. Returns (i,) int64: a[0], a[1] - a[0], a[2] - a[1], ..."""
    ### BEGIN SOLUTION
    return where(arange(a.shape[0]) == 0, a, a - a[arange(a.shape[0]) - 1])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "diff_test", "points": 2}
def diff_reference(a):
    return torch.diff(a, prepend=torch.zeros(1, dtype=a.dtype))


check_puzzle("diff", diff, diff_reference, st.tuples(vectors()), examples=[(torch.tensor([1, 3, 6]),)],
             hint="out[0] is a[0] itself; every later out[i] is a[i] - a[i-1]")
### BEGIN HIDDEN TESTS
check_puzzle("diff", diff, diff_reference, st.tuples(vectors(-10**12, 10**12, max_len=30)),
             examples=[(torch.tensor([], dtype=torch.long),), (torch.tensor([-4]),), (torch.arange(30).flip(0)[::3],)],
             max_examples=25)
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 9: `roll`
#
# `roll(a, shift)` is `torch.roll(a, shift)`: the elements move `shift` places to the right,
# and those that fall off the end come back at the start: `out[i] = a[(i - shift) % n]`.
# `shift` may be negative or larger than `n`; `a` is not empty.
# Example: `roll(tensor([1, 2, 3, 4]), 1) = tensor([4, 1, 2, 3])`.
#
# **Difficulty** 🔴🔴⚪⚪⚪ · **Importance** 🔵🔵⚪⚪⚪ · about 5 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# Build the index vector `(arange(n) - shift) % n` and index `a` with it. Python's and torch's
# `%` return a non-negative result for a positive `n`, even for negative numbers.
# </details>

# %% nbgrader={"solution": true, "grade_id": "roll"} exercise={"difficulty": 2, "importance": 2, "minutes": 5}
def roll(a: torch.Tensor, shift: int) -> torch.Tensor:
    """a: (n,) int64 with n >= 1; shift: int (any sign). Returns (n,) int64, out[i] = a[(i - shift) % n]."""
    ### BEGIN SOLUTION
    return a[(arange(a.shape[0]) - shift) % a.shape[0]]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "roll_test", "points": 2}
check_puzzle("roll", roll, torch.roll, st.tuples(vectors(min_len=1), st.integers(-10, 10)),
             examples=[(torch.tensor([1, 2, 3, 4]), 1)],
             hint="torch.roll moves elements to the right for a positive shift: out[i] = a[(i - shift) % n]")
### BEGIN HIDDEN TESTS
check_puzzle("roll", roll, torch.roll, st.tuples(vectors(min_len=1, max_len=20), st.integers(-1000, 1000)),
             examples=[(torch.tensor([7]), 5), (torch.arange(12)[::2], -13), (torch.arange(5), 0)], max_examples=25)
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 10: `flip`
#
# `flip(a)` is `torch.flip(a, (0,))`: the vector reversed, `out[i] = a[n - 1 - i]`.
# Example: `flip(tensor([1, 2, 3])) = tensor([3, 2, 1])`. (You saw two wrong attempts above.)
#
# **Difficulty** 🔴⚪⚪⚪⚪ · **Importance** 🔵🔵⚪⚪⚪ · about 3 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# `a[::-1]` is not allowed in torch (negative steps are not supported); index with the
# tensor `n - 1 - arange(n)` instead.
# </details>

# %% nbgrader={"solution": true, "grade_id": "flip"} exercise={"difficulty": 1, "importance": 2, "minutes": 3}
def flip(a: torch.Tensor) -> torch.Tensor:
    """a: (n,) int64. Returns (n,) int64, a reversed."""
    ### BEGIN SOLUTION
    return a[a.shape[0] - 1 - arange(a.shape[0])]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "flip_test", "points": 1}
check_puzzle("flip", flip, lambda a: torch.flip(a, (0,)), st.tuples(vectors()), examples=[(torch.tensor([1, 2, 3]),)])
### BEGIN HIDDEN TESTS
check_puzzle("flip", flip, lambda a: torch.flip(a, (0,)), st.tuples(vectors(-10**12, 10**12, max_len=30)),
             examples=[(torch.tensor([], dtype=torch.long),), (torch.tensor([9]),), (torch.arange(20)[1::3],)], max_examples=25)
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 11: `sequence_mask`
#
# A batch of sequences of different lengths is stored padded to one length `T`.
# `sequence_mask(values, length)` keeps `values[b, t]` where `t < length[b]` and puts 0 in the
# padding: `out[b, t] = values[b, t] if t < length[b] else 0`, with `0 <= length[b] <= T`.
# torch has no built-in for this, so the test compares with the definition, written as a loop.
#
# Example: `sequence_mask(tensor([[1, 2, 3], [4, 5, 6]]), tensor([2, 0])) = tensor([[1, 2, 0], [0, 0, 0]])`.
#
# **Difficulty** 🔴🔴🔴⚪⚪ · **Importance** 🔵🔵🔵⚪⚪ · about 10 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# The condition `t < length[b]` is a comparison of a row of positions `(1, T)` with a column of
# lengths `(B, 1)`: broadcasting makes it `(B, T)`. Then `where(condition, values, 0)`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "sequence_mask"} exercise={"difficulty": 3, "importance": 3, "minutes": 10}
def sequence_mask(values: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """values: (B, T) int64; length: (B,) int64 in [0, T]. Returns (B, T) int64, zero where t >= length[b]."""
    ### BEGIN SOLUTION
    return where(arange(values.shape[1])[None, :] < length[:, None], values, 0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sequence_mask_test", "points": 2}
def sequence_mask_reference(values, length):
    """The definition, one row at a time."""
    out = values.clone()
    for b, n in enumerate(length.tolist()):
        out[b, n:] = 0
    return out


def masked_batches(max_b=4, max_t=6, lo=-9, hi=9):
    """Draw (values, length): a (B, T) matrix and B lengths in [0, T]."""
    shapes = st.tuples(sizes(0, max_b), sizes(0, max_t))
    return shapes.flatmap(lambda bt: st.tuples(tensors(bt, lo, hi), tensors(bt[:1], 0, bt[1])))


check_puzzle("sequence_mask", sequence_mask, sequence_mask_reference, masked_batches(),
             examples=[(torch.tensor([[1, 2, 3], [4, 5, 6]]), torch.tensor([2, 0]))],
             hint="compare positions (1, T) with lengths (B, 1): t < length[b] keeps the value")
### BEGIN HIDDEN TESTS
wide = torch.arange(40).reshape(5, 8)
check_puzzle("sequence_mask", sequence_mask, sequence_mask_reference, masked_batches(8, 12, -10**12, 10**12),
             examples=[(wide.T[:, ::2], torch.tensor([0, 5, 1, 4, 3, 2, 5, 5])), (wide[:1], torch.tensor([8])),
                       (wide[:, :0], torch.zeros(5, dtype=torch.long))], max_examples=25)
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 12: `bincount`
#
# `bincount(a, j)` is `torch.bincount(a, minlength=j)` for `0 <= a[k] < j`: `out[v]` counts how
# many times the value `v` occurs in `a`.
# Example: `bincount(tensor([1, 1, 3]), 5) = tensor([0, 2, 0, 1, 0])`.
#
# **Difficulty** 🔴🔴🔴🔴⚪ · **Importance** 🔵🔵🔵⚪⚪ · about 15 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# Row `v` of `eye(j)` is the one-hot vector of `v`, so `eye(j)[a]` stacks the one-hot vectors
# of every element of `a`, shape `(n, j)`. Add those rows up: a `ones` vector and `@`.
# </details>

# %% nbgrader={"solution": true, "grade_id": "bincount"} exercise={"difficulty": 4, "importance": 3, "minutes": 15}
def bincount(a: torch.Tensor, j: int) -> torch.Tensor:
    """a: (n,) int64 with values in [0, j). Returns (j,) int64 counts of each value."""
    ### BEGIN SOLUTION
    return ones(a.shape[0]) @ eye(j)[a]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "bincount_test", "points": 3}
def counts_inputs(max_j=8, max_len=8):
    """Draw (a, j): j in [1, max_j], then a vector of values in [0, j)."""
    return sizes(1, max_j).flatmap(lambda j: st.tuples(vectors(0, j - 1, max_len=max_len), st.just(j)))


def bincount_reference(a, j):
    return torch.bincount(a, minlength=j)


check_puzzle("bincount", bincount, bincount_reference, counts_inputs(), examples=[(torch.tensor([1, 1, 3]), 5)],
             hint="eye(j)[a] is one row per element of a; the counts are the column sums")
### BEGIN HIDDEN TESTS
check_puzzle("bincount", bincount, bincount_reference, counts_inputs(50, 60),
             examples=[(torch.tensor([], dtype=torch.long), 3), (torch.zeros(7, dtype=torch.long), 1),
                       (torch.arange(12).flip(0)[::2] % 4, 4)], max_examples=25)
### END HIDDEN TESTS

# %% [markdown]
# ## Puzzle 13: `scatter_add`
#
# `scatter_add(values, link, j)` adds every value into the bin its link points to:
# `out[v] = sum of values[k] over all k with link[k] == v`, for `0 <= link[k] < j`. It is
# `torch.zeros(j, dtype=torch.long).scatter_add(0, link, values)`, and `bincount` is the special
# case where every value is 1. (Message passing in graph networks and the backward pass of an
# embedding lookup are scatter-adds.)
#
# Example: `scatter_add(tensor([5, 1, 7, 2]), tensor([0, 1, 0, 3]), 4) = tensor([12, 1, 0, 2])`.
#
# **Difficulty** 🔴🔴🔴🔴⚪ · **Importance** 🔵🔵🔵⚪⚪ · about 10 minutes, then look at the hint.
#
# <details><summary>Hint</summary>
#
# Like `bincount`, with `values` in place of the ones vector.
# </details>

# %% nbgrader={"solution": true, "grade_id": "scatter_add"} exercise={"difficulty": 4, "importance": 3, "minutes": 10}
def scatter_add(values: torch.Tensor, link: torch.Tensor, j: int) -> torch.Tensor:
    """values: (n,) int64; link: (n,) int64 in [0, j). Returns (j,) int64: out[v] = sum of values[link == v]."""
    ### BEGIN SOLUTION
    return values @ eye(j)[link]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "scatter_add_test", "points": 3}
def scatter_inputs(max_j=8, max_len=8, lo=-9, hi=9):
    """Draw (values, link, j): j in [1, max_j], n values and n links in [0, j)."""
    def for_size(j, n):
        return st.tuples(tensors((n,), lo, hi), tensors((n,), 0, j - 1), st.just(j))

    return st.tuples(sizes(1, max_j), sizes(0, max_len)).flatmap(lambda jn: for_size(*jn))


def scatter_add_reference(values, link, j):
    return torch.zeros(j, dtype=torch.long).scatter_add(0, link, values)


check_puzzle("scatter_add", scatter_add, scatter_add_reference, scatter_inputs(),
             examples=[(torch.tensor([5, 1, 7, 2]), torch.tensor([0, 1, 0, 3]), 4)],
             hint="eye(j)[link] has one row per value; values @ that adds each value into its column")
### BEGIN HIDDEN TESTS
check_puzzle("scatter_add", scatter_add, scatter_add_reference, scatter_inputs(40, 50, -10**12, 10**12),
             examples=[(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 2),
                       (torch.arange(10)[::3], torch.tensor([2, 2, 2, 2]), 3)], max_examples=25)
### END HIDDEN TESTS

# %% [markdown]
# **What just happened.** Thirteen built-ins came out of `arange`, `where`, `@` and indexing,
# and three ideas did all the work: *compare two `arange`s* to get any pattern of positions
# (`eye`, `triu`, the causal mask, `sequence_mask`); *index with a computed tensor* to move
# elements (`diag`, `roll`, `flip`, `diff`); and *multiply by a 0/1 matrix* to add things up
# (`sum`, `cumsum`, `bincount`, `scatter_add`). The last idea is also how you will read a
# transformer: an attention pattern is a matrix that moves information between positions, and
# `eye(j)[tokens]` is an embedding lookup written as a one-hot product.
#
# These one-liners are not how torch computes them (the `@` versions do `O(n^2)` work for an
# `O(n)` `cumsum`), but they are exact, and every reshape you meet from here on is one of them.
#
# **Next:** 0.3, PyTorch fundamentals: autograd, `nn.Module` and a training loop.

# %% [markdown]
# ## Your progress on this lesson
# The same table as `bootcamp progress`, for this lesson: results from the grading service
# (`bootcamp submit 0.2`), else from `bootcamp check 0.2` and this notebook as last saved.

# %%
from course.learner.progress import lesson_summary

lesson_summary("0.2")
