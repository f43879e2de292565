"""The digital baselines: image codecs, CRC frames, ARQ over the real links."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from semanticnn import frame
from semanticnn.eval import digital
from semanticnn.eval.digital import ImageCodec
from semanticnn.link import BSC, GilbertElliott, Lossy

LOSSY = [ImageCodec("jpeg", q) for q in (1, 20, 90)] + [ImageCodec("webp", q) for q in (1, 50)]
ALL = [ImageCodec("raw"), ImageCodec("png"), *LOSSY]


def blobs(n: int, c: int, seed: int = 0, size: int = 28) -> np.ndarray:
    """Blocky images (7x7 noise scaled up 4x): compressible, like small natural images."""
    small = np.random.default_rng(seed).integers(0, 256, (n, size // 4, size // 4, c))
    return np.kron(small, np.ones((1, 4, 4, 1), np.int64)).astype(np.uint8)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from([1, 3]),
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
)
def test_codecs_round_trip(c: int, h: int, w: int, seed: int) -> None:
    image = np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)
    for codec in ALL:
        out = codec.decode(codec.encode(image), (h, w, c))
        assert out.dtype == np.uint8 and out.shape == (h, w, c)
        if codec.kind in ("raw", "png"):
            np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("c", [1, 3])
def test_jpeg_sends_only_the_scan_and_decodes_as_the_whole_file(c: int) -> None:
    image = blobs(1, c)[0]
    for q in (1, 20, 90):
        whole = io.BytesIO()
        Image.fromarray(image[..., 0] if c == 1 else image).save(whole, "JPEG", quality=q)
        sent = ImageCodec("jpeg", q).encode(image)
        assert len(sent) < len(whole.getvalue()) - 200  # tables and headers stay home
        expect = np.asarray(Image.open(whole)).reshape(image.shape)
        np.testing.assert_array_equal(ImageCodec("jpeg", q).decode(sent, image.shape), expect)


def test_size_grows_with_quality() -> None:
    images = blobs(20, 1)
    for kind in ("jpeg", "webp"):
        sizes = [
            np.mean([len(ImageCodec(kind, q).encode(im)) for im in images]) for q in (1, 30, 90)
        ]
        assert sizes == sorted(sizes), (kind, sizes)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(ALL),
    st.sampled_from([(28, 28, 1), (8, 8, 3)]),
    st.one_of(st.binary(max_size=300), st.tuples(st.integers(0, 10**6), st.integers(1, 255))),
)
def test_garbage_is_a_value_error(
    codec: ImageCodec, shape: tuple[int, int, int], garbage: bytes | tuple[int, int]
) -> None:
    """Random bytes, or a valid payload with one byte changed, then cut short."""
    if isinstance(garbage, tuple):
        data = bytearray(codec.encode(blobs(1, shape[2], size=shape[0])[0]))
        data[garbage[0] % len(data)] ^= garbage[1]
        garbage = bytes(data[: len(data) - garbage[1] % 3])
    try:
        out = codec.decode(garbage, shape)
    except ValueError:
        return
    assert out.shape == shape and out.dtype == np.uint8


def test_bad_codec_settings() -> None:
    for kind, q in [("jpeg", None), ("png", 50), ("webp", 0)]:
        with pytest.raises(ValueError):
            ImageCodec(kind, q)  # type: ignore[arg-type]


def test_image_codecs_pick_qualities_in_range() -> None:
    images = blobs(30, 1)
    codecs = digital.image_codecs(images, 71)
    assert [c.name for c in codecs[:2]] == ["raw", "png"]
    for kind in ("jpeg", "webp"):
        chosen = [c for c in codecs if c.kind == kind]
        assert 1 <= len(chosen) <= 4
        for c in chosen:
            mean = digital.on_air_bytes(float(np.mean([len(c.encode(im)) for im in images])))
            assert 71 <= mean <= 710 or "outside" in c.label
    assert codecs == digital.image_codecs(images, 71)
    tiny = digital.image_codecs(images, 1)  # no quality is small enough: the lowest, flagged
    assert [(c.quality, "outside" in c.label) for c in tiny[2:]] == [(1, True), (1, True)]


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=400), st.integers(0, frame.MAX_SEQ), st.data())
def test_crc_frame_round_trip_and_single_flips(
    payload: bytes, seq: int, data: st.DataObject
) -> None:
    sent = digital.crc_frame(payload, model_id=3, seq=seq)
    assert len(sent) == digital.on_air_bytes(len(payload))
    assert digital.crc_unframe(sent) == payload
    bit = data.draw(st.integers(0, 8 * len(sent) - 1))
    flipped = bytearray(sent)
    flipped[bit // 8] ^= 0x80 >> (bit % 8)
    assert digital.crc_unframe(bytes(flipped)) is None  # CRC-32 catches every single flip
    cut = data.draw(st.integers(0, len(sent) - 1))
    assert digital.crc_unframe(sent[:cut]) is None


def _payloads(n: int, size: int = 60) -> list[bytes]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for _ in range(n)]


def test_arq_noiseless_and_hopeless() -> None:
    payloads = _payloads(50)
    frame_len = digital.on_air_bytes(60)
    clean = digital.send_arq(payloads, BSC(0.0), seed=0, retransmissions=3)
    assert clean.delivered == payloads
    np.testing.assert_array_equal(clean.attempts, 1)
    np.testing.assert_array_equal(clean.bytes_on_air, frame_len)
    for link in (BSC(0.5), Lossy(0.0, p_erasure=1.0, p_truncation=0.0)):
        lost = digital.send_arq(payloads, link, seed=0, retransmissions=3)
        assert lost.delivered == [None] * 50
        np.testing.assert_array_equal(lost.attempts, 4)
        np.testing.assert_array_equal(lost.bytes_on_air, 4 * frame_len)


@pytest.mark.parametrize("link", [BSC(2e-3), GilbertElliott(), Lossy(1e-3, 0.1, 0.1)])
def test_arq_deterministic_and_retransmissions_help(link: digital.Link) -> None:
    payloads = _payloads(300)
    runs = {r: digital.send_arq(payloads, link, seed=7, retransmissions=r) for r in (0, 3)}
    again = digital.send_arq(payloads, link, seed=7, retransmissions=3)
    assert again.delivered == runs[3].delivered
    np.testing.assert_array_equal(again.bytes_on_air, runs[3].bytes_on_air)
    got = {r: sum(d is not None for d in res.delivered) for r, res in runs.items()}
    assert 0 < got[0] < got[3]
    for res in runs.values():
        assert all(d in (None, p) for d, p in zip(res.delivered, payloads, strict=True))
    assert runs[3].bytes_on_air.sum() > runs[0].bytes_on_air.sum()


def test_payloads_longer_than_a_frame_go_in_fragments() -> None:
    big = bytes(range(256)) * 200  # 51,200 B: two frames of 25,600
    assert [len(p) for p in digital.fragments(big)] == [25_600, 25_600]
    assert digital.fragments(b"") == [b""]
    res = digital.send_arq([big, b"small"], BSC(0.0), seed=0, retransmissions=0)
    assert res.delivered == [big, b"small"]
    assert res.attempts.tolist() == [2, 1]
    assert res.bytes_on_air.tolist() == [digital.on_air_bytes(len(big)), digital.on_air_bytes(5)]
    # One lost fragment loses the payload, and only that fragment is sent again.
    lossy = Lossy(0.0, p_erasure=0.5, p_truncation=0.0)
    res = digital.send_arq([big] * 8, lossy, seed=3, retransmissions=0)
    assert None in res.delivered and all(d in (None, big) for d in res.delivered)


def test_deliver_images_and_bytes() -> None:
    images = blobs(100, 3, size=32)
    encoded = digital.encode_images(images, ImageCodec("jpeg", 50))
    got, ok, cost = digital.deliver_images(encoded, BSC(0.0), seed=0, retransmissions=0)
    assert ok.all()
    np.testing.assert_array_equal(got, encoded.decoded)
    assert cost.tolist() == [digital.on_air_bytes(len(p)) for p in encoded.payloads]
    got, ok, _ = digital.deliver_images(encoded, Lossy(1e-3, 0.2, 0.0), seed=1, retransmissions=0)
    assert 0 < ok.sum() < 100
    np.testing.assert_array_equal(got[ok], encoded.decoded[ok])
    assert not got[~ok].any()

    features = images.reshape(100, -1)[:, :147]
    rx, ok, cost = digital.deliver_bytes(features, Lossy(1e-3, 0.2, 0.0), seed=1, retransmissions=1)
    assert 0 < ok.sum() < 100
    np.testing.assert_array_equal(rx[ok], features[ok])
    assert not rx[~ok].any()
    assert set(cost.tolist()) <= {digital.on_air_bytes(147), 2 * digital.on_air_bytes(147)}
