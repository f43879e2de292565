"""The digital baselines: images (or 8-bit split features) sent the conventional way, as
bytes that must arrive bit-exact.

SemanticNN sends its symbols unprotected and lets the decoder absorb bit errors. What it
argues against is "bit-level correctness": compress with a standard codec (nothing,
PNG, JPEG or WebP), send the bytes in a frame closed by a CRC-32 (LoRa and IEEE
802.15.4 radios drop every frame whose CRC fails) and retransmit what was dropped
(ARQ). The receiver gets the exact image or nothing; the price is bytes on the air
and lost images.

To compare against that honestly each codec gets its best case: everything the
receiver can rebuild from the image shape and the codec's settings stays off the air
(`ImageCodec`), and the qualities compared are those whose size on training images is
near SemanticNN's (`image_codecs`). Test images are encoded once per codec
(`encode_images`) and then sent through many links and seeds (`deliver_images`).
"""

from __future__ import annotations

import functools
import io
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from semanticnn import frame
from semanticnn._arrays import U8Array
from semanticnn.seeds import derive_seed

CRC_BYTES = 4
QUALITIES = (1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 50, 60, 75, 90)
"""The JPEG and WebP qualities `image_codecs` chooses from."""
# Mean sizes settle long before this many images; WebP takes ~0.4 ms an image.
_SIZE_SAMPLE = 500

Kind = Literal["raw", "png", "jpeg", "webp"]


class Link(Protocol):
    """What the ARQ needs of a link (`semanticnn.link.BSC`, `GilbertElliott`, `Lossy`)."""

    def send(
        self, frames: np.ndarray, seed: int, lengths: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...


def _check_images(images: np.ndarray) -> U8Array:
    a = np.asarray(images)
    if a.dtype != np.uint8 or a.ndim != 4 or a.shape[3] not in (1, 3):
        raise ValueError(
            f"images must be uint8 (N, H, W, C) with C 1 or 3, got {a.dtype} {a.shape}"
        )
    return a


# --- image codecs -------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_idat(png: bytes) -> bytes:
    """The image data of a PNG (its IDAT chunks joined: one zlib stream)."""
    out, i = [], 8
    while i < len(png):
        (n,) = struct.unpack(">I", png[i : i + 4])
        if png[i + 4 : i + 8] == b"IDAT":
            out.append(png[i + 8 : i + 8 + n])
        i += 12 + n
    return b"".join(out)


def _png_file(idat: bytes, shape: tuple[int, int, int]) -> bytes:
    h, w, c = shape
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0 if c == 1 else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _jpeg_scan_start(jpeg: bytes) -> int:
    """Offset of the entropy-coded data: just past the start-of-scan segment."""
    i = 2
    while jpeg[i + 1] != 0xDA:
        i += 2 + int.from_bytes(jpeg[i + 2 : i + 4], "big")
    return i + 2 + int.from_bytes(jpeg[i + 2 : i + 4], "big")


@functools.lru_cache(maxsize=64)
def _jpeg_header(shape: tuple[int, int, int], quality: int) -> bytes:
    """Every byte of a JPEG before its scan data: with the standard Huffman tables, a
    function of the shape and quality alone (made by encoding a blank image)."""
    blank = _pil_save(np.zeros(shape, np.uint8), "JPEG", quality=quality)
    return blank[: _jpeg_scan_start(blank)]


def _pil_save(image: U8Array, fmt: str, **options: object) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[2] == 1 else image).save(buf, fmt, **options)
    return buf.getvalue()


@dataclass(frozen=True)
class ImageCodec:
    """One way to put an image in bytes; only what the receiver cannot rebuild from the
    image shape and the codec's settings is sent.

    - raw: the uint8 HWC pixels;
    - png: lossless (Pillow, `optimize=True`); sent: the zlib stream of its IDAT (the
      signature, IHDR and IEND are rebuilt from the shape);
    - jpeg: baseline JPEG with the standard Huffman tables, sent as its scan data only,
      as RTP/JPEG (RFC 2435) sends it: the quantization and Huffman tables follow from
      the quality and the frame header from the shape. Optimized Huffman tables
      (`optimize=True`) would be the image's own and have to be sent: on MNIST they
      take 56-68 bytes to save 4-26 bytes of scan data;
    - webp: lossy VP8 (`method=6`); sent: the VP8 frame less its start code and size,
      without the RIFF container.

    Pillow writes no EXIF, ICC or other metadata unless asked. `note` ends the label.
    """

    kind: Kind
    quality: int | None = None
    note: str = ""

    def __post_init__(self) -> None:
        q = self.quality
        if not (q is None if self.kind in ("raw", "png") else q is not None and 1 <= q <= 100):
            raise ValueError(f"{self.kind}: quality must be 1..100 if lossy, else None")

    @property
    def name(self) -> str:
        return self.kind if self.quality is None else f"{self.kind}_q{self.quality}"

    @property
    def label(self) -> str:
        text = (
            self.kind.upper() if self.quality is None else f"{self.kind.upper()} q={self.quality}"
        )
        return f"{text} ({self.note})" if self.note else text

    def encode(self, image: np.ndarray) -> bytes:
        """A uint8 (H, W, C) image, C 1 or 3, to the bytes sent."""
        img: U8Array = _check_images(np.asarray(image)[None])[0]
        if self.kind == "raw":
            return img.tobytes()
        if self.kind == "png":
            return _png_idat(_pil_save(img, "PNG", optimize=True))
        if self.kind == "jpeg":
            data = _pil_save(img, "JPEG", quality=self.quality)
            return data[_jpeg_scan_start(data) : -2]  # less the end-of-image marker
        vp8 = _pil_save(img, "WEBP", quality=self.quality, method=6)[20:]
        return vp8[:3] + vp8[10:]  # frame tag, then what follows start code and size

    def decode(self, data: bytes, shape: tuple[int, int, int]) -> U8Array:
        """The bytes sent back to a uint8 (H, W, C) image; ValueError if they are not one
        of this shape."""
        h, w, c = shape
        if self.kind == "raw":
            if len(data) != h * w * c:
                raise ValueError(f"raw: {len(data)} bytes for a {shape} image")
            return np.frombuffer(data, np.uint8).reshape(shape).copy()
        if self.kind == "png":
            fmt, file = "PNG", _png_file(data, shape)
        elif self.kind == "jpeg":
            assert self.quality is not None
            fmt, file = "JPEG", _jpeg_header(shape, self.quality) + data + b"\xff\xd9"
        else:
            vp8 = data[:3] + b"\x9d\x01\x2a" + struct.pack("<HH", w, h) + data[3:]
            pad = b"\0" * (len(vp8) % 2)
            riff = b"WEBPVP8 " + struct.pack("<I", len(vp8)) + vp8 + pad
            fmt, file = "WEBP", b"RIFF" + struct.pack("<I", len(riff)) + riff
        return _pil_load(file, fmt, shape, self.name)


def _pil_load(file: bytes, fmt: str, shape: tuple[int, int, int], name: str) -> U8Array:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(file), formats=[fmt]) as im:
            if im.size != (shape[1], shape[0]):
                raise ValueError(f"decodes to {im.size[0]}x{im.size[1]} pixels")
            mode = "L" if shape[2] == 1 else "RGB"
            pixels = np.asarray(im if im.mode == mode else im.convert(mode), np.uint8)
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
        Image.DecompressionBombError,
    ) as e:
        raise ValueError(f"{name}: not a {shape} image: {e}") from e
    return pixels.reshape(shape).copy()


def on_air_bytes(payload_bytes: float) -> float:
    """Bytes the CRC frames of this payload take on the air (one per `fragments`)."""
    count = max(1, math.ceil(payload_bytes / frame.MAX_COUNT))
    return count * (frame.HEADER_BYTES + CRC_BYTES) + payload_bytes


def image_codecs(
    images: np.ndarray, target_bytes: float, span: tuple[float, float] = (1, 10), per_codec: int = 4
) -> list[ImageCodec]:
    """raw, png, and for jpeg and webp up to `per_codec` qualities whose mean on-air
    bytes (`on_air_bytes`: header, payload, CRC) on `images` lie in `span` times
    `target_bytes` (SemanticNN's on-air bytes), spread evenly in log-size over the
    qualities that do. Where none does, the quality nearest the range is kept and its
    label says so.

    Pass training images: the design is chosen without the test set. Sizes are measured
    on at most 500 of them, evenly spaced. Deterministic.
    """
    imgs = _check_images(images)
    sample = imgs[np.linspace(0, len(imgs) - 1, min(len(imgs), _SIZE_SAMPLE)).astype(int)]
    lo, hi = span[0] * target_bytes, span[1] * target_bytes
    out = [ImageCodec("raw"), ImageCodec("png")]
    for kind in ("jpeg", "webp"):
        sizes = {
            q: on_air_bytes(float(np.mean([len(ImageCodec(kind, q).encode(im)) for im in sample])))
            for q in QUALITIES
        }
        inside = [q for q, s in sizes.items() if lo <= s <= hi]
        if not inside:
            q = min(sizes, key=lambda q: abs(np.log(sizes[q] / np.clip(sizes[q], lo, hi))))
            out.append(ImageCodec(kind, q, f"{sizes[q]:.0f} B on air, outside {lo:.0f}-{hi:.0f}"))
            continue
        logs = np.log([sizes[q] for q in inside])
        picks = {
            inside[int(np.argmin(abs(logs - t)))]
            for t in np.linspace(logs.min(), logs.max(), per_codec)
        }
        out += [ImageCodec(kind, q, f"{sizes[q]:.0f} B on air") for q in sorted(picks)]
    return out


# --- CRC frames and ARQ -------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 14)  # the same test payloads go out for every link and seed
def crc_frame(payload: bytes, *, model_id: int, seq: int) -> bytes:
    """A wire frame carrying `payload` as 8-bit symbols, then the CRC-32 (zlib's, big
    endian) of every byte before it."""
    data = frame.encode(np.frombuffer(payload, np.uint8), 8, model_id=model_id, seq=seq)
    return data + zlib.crc32(data).to_bytes(CRC_BYTES, "big")


def crc_unframe(received: bytes) -> bytes | None:
    """The payload of a received CRC frame, or None when it is truncated or damaged (what
    the radio drops)."""
    body, crc = received[:-CRC_BYTES], received[-CRC_BYTES:]
    if zlib.crc32(body).to_bytes(CRC_BYTES, "big") != crc:
        return None
    try:
        return frame.decode(body).symbols.tobytes()
    except frame.FrameError:
        return None


@dataclass(frozen=True)
class ArqResult:
    """What `send_arq` delivered (None: lost) and what it cost. `bytes_on_air` counts
    the uplink frames only; the acknowledgements going back are not counted."""

    delivered: list[bytes | None]
    bytes_on_air: npt.NDArray[np.int64]
    attempts: npt.NDArray[np.int64]  # frames sent per payload (fragments x tries)


def fragments(payload: bytes) -> list[bytes]:
    """`payload` cut into as few near-equal pieces as fit one frame each (`MAX_COUNT`
    8-bit symbols); an empty payload is one empty piece."""
    count = max(1, -(-len(payload) // frame.MAX_COUNT))
    size = -(-len(payload) // count)
    return [payload[k * size : (k + 1) * size] for k in range(count)]


def send_arq(
    payloads: Sequence[bytes], link: Link, seed: int, retransmissions: int, model_id: int = 0
) -> ArqResult:
    """Send each payload in CRC frames (one, or several fragments when it is longer than a
    frame holds; seq: the frame's index, wrapping) and resend the frames whose CRC
    failed, up to `retransmissions` times (0: plain CRC drop). A payload arrives when all
    its fragments do. Each round is one `link.send` of every frame still undelivered,
    the channel seed derived from (seed, round)."""
    if retransmissions < 0:
        raise ValueError(f"retransmissions must be >= 0, got {retransmissions}")
    pieces = [fragments(p) for p in payloads]
    owner = np.repeat(np.arange(len(payloads)), [len(f) for f in pieces])
    frames = [
        crc_frame(p, model_id=model_id, seq=i % (frame.MAX_SEQ + 1))
        for i, p in enumerate(p for f in pieces for p in f)
    ]
    lengths = np.array([len(f) for f in frames], np.int64)
    buf = np.zeros((len(frames), lengths.max(initial=0)), np.uint8)
    for row, f in zip(buf, frames, strict=True):
        row[: len(f)] = np.frombuffer(f, np.uint8)
    got: list[bytes | None] = [None] * len(frames)
    attempts = np.zeros(len(frames), np.int64)
    pending = np.arange(len(frames))
    for r in range(retransmissions + 1):
        if not pending.size:
            break
        rx, rx_len = link.send(buf[pending], derive_seed(seed, r), lengths[pending])
        attempts[pending] += 1
        for row, n, i in zip(rx, rx_len, pending, strict=True):
            got[i] = crc_unframe(row[:n].tobytes())
        pending = pending[[got[i] is None for i in pending]]
    delivered: list[bytes | None] = []
    ends = np.cumsum([len(parts) for parts in pieces])
    for end, parts in zip(ends, pieces, strict=True):
        arrived = [g for g in got[end - len(parts) : end] if g is not None]
        delivered.append(b"".join(arrived) if len(arrived) == len(parts) else None)
    return ArqResult(
        delivered,
        np.bincount(owner, attempts * lengths, minlength=len(payloads)).astype(np.int64),
        np.bincount(owner, attempts, minlength=len(payloads)).astype(np.int64),
    )


# --- what the evaluation calls ------------------------------------------------------


@dataclass(frozen=True)
class EncodedImages:
    """Images encoded once by a codec (`encode_images`), to send many times."""

    codec: ImageCodec
    payloads: list[bytes]
    decoded: U8Array
    """(N, H, W, C): what the receiver shows when a payload arrives intact."""


def encode_images(images: np.ndarray, codec: ImageCodec) -> EncodedImages:
    """(N, H, W, C) uint8 images encoded, and decoded as the receiver will, once."""
    imgs = _check_images(images)
    payloads = [codec.encode(im) for im in imgs]
    shape = imgs.shape[1:]
    decoded = np.stack([codec.decode(p, shape) for p in payloads]) if payloads else imgs.copy()
    return EncodedImages(codec, payloads, decoded)


def deliver_images(
    encoded: EncodedImages, link: Link, seed: int, retransmissions: int
) -> tuple[U8Array, npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """The encoded images through the link with ARQ: (received images, zeros where lost;
    which arrived; bytes on air per image). A delivered payload equal to the one sent
    (all but a 2**-32 chance) reuses its decoded image; a damaged one that passed the
    CRC and does not decode is lost, not a crash."""
    res = send_arq(encoded.payloads, link, seed, retransmissions)
    images = np.zeros_like(encoded.decoded)
    ok = np.zeros(len(images), bool)
    for i, got in enumerate(res.delivered):
        if got == encoded.payloads[i]:
            images[i], ok[i] = encoded.decoded[i], True
        elif got is not None:
            try:
                images[i], ok[i] = encoded.codec.decode(got, images.shape[1:]), True
            except ValueError:
                pass
    return images, ok, res.bytes_on_air


def deliver_bytes(
    payloads: np.ndarray, link: Link, seed: int, retransmissions: int
) -> tuple[U8Array, npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """(N, B) uint8 payloads (the 8-bit split features) through the link with ARQ:
    (received payloads, zeros where lost; which arrived; bytes on air per payload)."""
    rows = np.asarray(payloads, np.uint8)
    res = send_arq([r.tobytes() for r in rows], link, seed, retransmissions)
    out = np.zeros_like(rows)
    # A damaged frame can pass the CRC (2**-32) with another length: lost, not a crash.
    ok = np.array([d is not None and len(d) == rows.shape[1] for d in res.delivered], bool)
    for i in np.flatnonzero(ok):
        out[i] = np.frombuffer(res.delivered[i] or b"", np.uint8)
    return out, ok, res.bytes_on_air
