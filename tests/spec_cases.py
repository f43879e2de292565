"""The worked cases of docs/model-format.md's requantization, shared by the numpy
(test_int8) and torch (test_integer_torch) implementations' tests."""

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1

# (x, multiplier, shift, requantize(x, multiplier, shift))
REQUANTIZE_EDGES = [
    (5, 1 << 30, 0, 3),  # 2.5: SRDHM nudges ties up
    (-5, 1 << 30, 0, -2),  # -2.5: ... which is toward zero for negatives (gemmlowp)
    (5, I32_MAX, -1, 3),  # RDBPOT tie away from zero
    (-5, I32_MAX, -1, -3),
    (3, I32_MAX, -1, 2),
    (-3, I32_MAX, -1, -2),
    (100, I32_MAX, 0, 100),  # shift 0: just the (almost 1) multiplier
    (I32_MAX, I32_MAX, -31, 1),  # right shift 31
    (I32_MIN, I32_MAX, -31, -1),
    (1 << 30, I32_MAX, -31, 1),  # exactly 0.5 after the multiply: away from zero
    ((1 << 30) - 1, I32_MAX, -31, 0),
    (I32_MIN, I32_MIN, 0, I32_MAX),  # the one saturating SRDHM case
    (I32_MAX, I32_MAX, 1, -2),  # the left shift wraps as int32 (TFLite), then x*~1
    (-(1 << 30), 1 << 30, 30, 0),  # -2^60 wraps to 0
    (-1, 1 << 30, 30, -(1 << 29)),  # the largest left shift, no overflow: -2^30 / 2
    (7, 0, 0, 0),
]
