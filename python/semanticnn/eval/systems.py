"""The systems compared, each judged as deployed: what the device puts on the air (whole
frames of `semanticnn.frame`), what arrives through a link, what the edge predicts.

A frame whose header fails to decode is lost, and a lost frame is a wrong prediction
(delivered accuracy); every byte on the air is counted, retransmissions included.

- original: the unsplit base model, no link (the reference);
- float32 / uint8: the split features as float32 or uniform 8-bit values, framed with
  the same protected header and an unprotected payload (the receiver zeroes the
  non-finite floats the flips make);
- digital baselines (`eval.digital`): the 8-bit split features, and the image itself
  (raw, PNG, JPEG, WebP), each framed with a CRC-32 and dropped when it fails, with up
  to R retransmissions (ARQ): the "bit-level correctness" the paper argues against;
- semanticnn_blind / semanticnn / semanticnn_oracle: the int8 encoder's frame; the
  BER-blind decoder, the BER-aware decoder told what the receiver knows (each frame's
  header corrections pooled over the link's frames, `ber_estimate`), and the BER-aware
  decoder told the true BER (an oracle, for reference);

Semantic systems also report payload-only accuracy: the same received payload decoded
as if the header always arrived (what the paper reports).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from semanticnn import bits, frame
from semanticnn.ber_estimate import batch_evidence, running_ber
from semanticnn.eval import digital
from semanticnn.firmware.frames import MODEL_ID
from semanticnn.link import Channel
from semanticnn.models import BaseClassifier, SemanticNN
from semanticnn.seeds import derive_seed

# Images per forward pass.
BATCH = 500

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Outcome:
    """One pass of the test set through one link."""

    pred: np.ndarray
    """(N,) predicted labels, -1 where the frame was lost."""
    bytes_on_air: np.ndarray
    """(N,) bytes sent for each inference, every attempt counted."""
    payload_pred: np.ndarray | None = None
    """(N,) predictions from the received payload as if every header arrived (-1 where
    the packet was lost)."""
    wrong_headers: int = 0
    """Frames accepted with a header that decodes to wrong fields (expected: none)."""


@dataclass(frozen=True)
class System:
    name: str
    label: str
    kind: str
    """"reference", "unprotected", "digital" or "semantic"."""
    payload_bytes: float | None
    """Bytes of what one inference sends besides framing, the mean where sizes vary
    (None: nothing is sent)."""
    frame_bytes: float | None
    """Bytes of one frame on the air (one attempt), the mean where sizes vary."""
    receive: Callable[[Channel, int], Outcome]


def _batched(predict: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.cat(
            [predict(x[i : i + BATCH]).argmax(1) for i in range(0, len(x), BATCH)]
        ).numpy()


def _frames(payload: np.ndarray, nbits: int, gray: bool = False) -> np.ndarray:
    """The device's frames (no pilot, as the firmware sends them)."""
    seqs = np.arange(len(payload)) % (frame.MAX_SEQ + 1)
    return frame.encode_batch(payload, nbits, model_id=MODEL_ID, seqs=seqs, gray=gray)


@dataclass(frozen=True)
class Arrival:
    """What the receiver got of a batch of frames on one link."""

    rows: np.ndarray
    """(N, L) the bytes received, zero past each row's received length."""
    lengths: np.ndarray
    """(N,) received lengths (0: the packet was lost)."""
    batch: frame.Batch
    accepted: np.ndarray
    """(N,) frames the receiver accepts: a header that decodes to another model, count
    or symbol width is as lost as one that fails."""


def _arrive(frames: np.ndarray, link: Channel, seed: int, count: int, nbits: int) -> Arrival:
    rx, lengths = link.send(frames, seed)
    rx[np.arange(rx.shape[1]) >= lengths[:, None]] = 0
    batch = frame.decode_batch(rx, lengths)
    ok = batch.ok & (batch.model_id == MODEL_ID) & (batch.count == count) & (batch.nbits == nbits)
    return Arrival(rx, lengths, batch, ok)


def original(base: BaseClassifier, x: torch.Tensor) -> System:
    pred = _batched(base, x)
    none = np.zeros(len(pred), np.int64)
    return System(
        "original",
        "original model (unsplit)",
        "reference",
        None,
        None,
        lambda link, seed: Outcome(pred, none),
    )


def _unprotected(name: str, label: str, payload: np.ndarray, predict: Predict) -> System:
    """Split-feature bytes as the payload of frames with the protected header and no
    payload check; a payload longer than a frame holds goes in several frames (each
    with its header), and the inference is lost when any of them is."""
    step = frame.MAX_COUNT
    pieces = [payload[:, i : i + step] for i in range(0, payload.shape[1], step)]
    frames = [_frames(p, 8) for p in pieces]
    frame_bytes = sum(f.shape[1] for f in frames)
    size = np.full(len(payload), frame_bytes, np.int64)

    def receive(link: Channel, seed: int) -> Outcome:
        got, accepted, arrived = [], np.ones(len(payload), bool), np.ones(len(payload), bool)
        for k, (f, p) in enumerate(zip(frames, pieces, strict=True)):
            a = _arrive(f, link, seed if k == 0 else derive_seed(seed, k), p.shape[1], 8)
            got.append(a.rows[:, frame.HEADER_BYTES :])
            accepted &= a.accepted
            arrived &= a.lengths > 0
        every = predict(np.concatenate(got, 1))
        return Outcome(np.where(accepted, every, -1), size, np.where(arrived, every, -1))

    return System(name, label, "unprotected", payload.shape[1], frame_bytes, receive)


def float32(base: BaseClassifier, features: torch.Tensor) -> System:
    shape = features.shape[1:]

    def predict(rx: np.ndarray) -> np.ndarray:
        g = np.nan_to_num(rx.view("<f4"), nan=0.0, posinf=0.0, neginf=0.0)
        return _batched(base.tail, torch.from_numpy(g.reshape(-1, *shape).astype(np.float32)))

    raw = features.numpy().astype("<f4").reshape(len(features), -1).view(np.uint8)
    return _unprotected("float32", "float32 split features", raw, predict)


def quantize_features(features: torch.Tensor, feature_max: float) -> tuple[np.ndarray, float]:
    """Uniform 8-bit values of the (non-negative, post-ReLU) split features, and the step."""
    scale = max(feature_max, 1e-12) / 255.0
    q = torch.clamp(torch.round(features / scale), 0, 255).to(torch.uint8)
    return q.reshape(len(q), -1).numpy(), scale


def _uint8_predict(base: BaseClassifier, shape: torch.Size, scale: float) -> Predict:
    def predict(rx: np.ndarray) -> np.ndarray:
        f = torch.from_numpy(rx.astype(np.float32) * scale).reshape(-1, *shape)
        return _batched(base.tail, f)

    return predict


def uint8(base: BaseClassifier, features: torch.Tensor, feature_max: float) -> System:
    q, scale = quantize_features(features, feature_max)
    predict = _uint8_predict(base, features.shape[1:], scale)
    return _unprotected("uint8", "uniform 8-bit split features", q, predict)


def _digital(
    name: str,
    label: str,
    payloads: list[int],
    deliver: Callable[[Channel, int], tuple[np.ndarray, np.ndarray, np.ndarray]],
    predict: Predict,
    clean: np.ndarray,
) -> System:
    """`payloads`: the payload bytes of each inference (the frame sizes follow);
    `clean`: what the receiver gets of each when it arrives intact, whose predictions
    are made once and reused for every intact arrival."""
    clean_pred: list[np.ndarray] = []

    def receive(link: Channel, seed: int) -> Outcome:
        got, delivered, sent = deliver(link, seed)
        pred = np.full(len(delivered), -1, np.int64)
        intact = delivered & (got.reshape(len(got), -1) == clean.reshape(len(clean), -1)).all(1)
        if intact.any():
            if not clean_pred:
                clean_pred.append(predict(clean))
            pred[intact] = clean_pred[0][intact]
        other = delivered & ~intact
        if other.any():
            pred[other] = predict(got[other])
        return Outcome(pred, sent)

    frames = [digital.on_air_bytes(n) for n in payloads]
    return System(name, label, "digital", float(np.mean(payloads)), float(np.mean(frames)), receive)


def uint8_crc(
    base: BaseClassifier, features: torch.Tensor, feature_max: float, retransmissions: int
) -> System:
    q, scale = quantize_features(features, feature_max)
    return _digital(
        "uint8_crc",
        f"8-bit split features, CRC-32, ARQ x{retransmissions}",
        [q.shape[1]] * len(q),
        lambda link, seed: digital.deliver_bytes(q, link, seed, retransmissions),
        _uint8_predict(base, features.shape[1:], scale),
        q,
    )


def image(
    base: BaseClassifier, images: np.ndarray, codec: digital.ImageCodec, retransmissions: int
) -> System:
    """The image itself through a digital link (`images`: uint8 NHWC)."""
    encoded = digital.encode_images(images, codec)

    def predict(got: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(got.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
        return _batched(base, x.contiguous())

    return _digital(
        f"image_{codec.name}",
        f"image {codec.label}, CRC-32, ARQ x{retransmissions}",
        [len(p) for p in encoded.payloads],
        lambda link, seed: digital.deliver_images(encoded, link, seed, retransmissions),
        predict,
        encoded.decoded,
    )


def device_symbols(model: SemanticNN, x: torch.Tensor) -> np.ndarray:
    """(N, H*W*C) symbols of the images `x`, in the order the device sends them (NHWC)."""
    with torch.no_grad():
        sym = torch.cat([model.encoder(x[i : i + BATCH])[1] for i in range(0, len(x), BATCH)])
    return sym.permute(0, 2, 3, 1).reshape(len(sym), -1).to(torch.uint8).numpy()


def semantic(name: str, label: str, model: SemanticNN, symbols: np.ndarray, told: str) -> System:
    """`symbols`: `device_symbols` of the images. `told`: what the decoder is told of
    the BER: "blind" (nothing), "estimate" (the receiver's running estimate from the
    frames) or "oracle" (the link's true mean)."""
    if told not in ("blind", "estimate", "oracle"):
        raise ValueError(f"told must be blind, estimate or oracle, got {told!r}")
    nbits = model.encoder.quantizer.bits
    count = symbols.shape[1]
    frames = _frames(symbols, nbits, model.gray)
    size = np.full(len(symbols), frames.shape[1], np.int64)
    body = frame.HEADER_BYTES
    # Told one BER for every frame (blind, oracle), an intact frame's prediction is that
    # of the sent symbols at that BER: made once per BER, reused.
    clean_pred: dict[float, np.ndarray] = {}

    def predict(received: np.ndarray, ber: np.ndarray) -> np.ndarray:
        values = model.encoder.quantizer.dequantize(model.symbols_nchw(received))
        ber_t = torch.from_numpy(ber.astype(np.float32))
        out = []
        with torch.no_grad():
            for i in range(0, len(values), BATCH):
                b = ber_t[i : i + BATCH]
                out.append(model.tail(model.decode(values[i : i + BATCH], b)).argmax(1))
        return torch.cat(out).numpy()

    def receive(link: Channel, seed: int) -> Outcome:
        a = _arrive(frames, link, seed, count, nbits)
        payload = np.stack(
            [bits.unpack(np.ascontiguousarray(r[body:]), nbits, count) for r in a.rows]
        )
        if model.gray:
            payload = bits.gray_decode(payload)
        if told == "estimate":
            b = a.batch
            errors, seen = batch_evidence(
                a.accepted, b.header_corrections, b.pilot_errors, b.pilot_bits
            )
            ber = running_ber(errors, seen)
            every = predict(payload, ber)
        else:
            told_ber = link.mean_ber if told == "oracle" else 0.0
            ber = np.full(len(a.rows), told_ber)
            if told_ber not in clean_pred:
                clean_pred[told_ber] = predict(symbols, ber)
            every = clean_pred[told_ber].copy()
            noisy = np.flatnonzero((payload != symbols).any(1))
            if noisy.size:
                every[noisy] = predict(payload[noisy], ber[noisy])
        pred = np.where(a.accepted, every, -1)
        # An accepted frame's symbols are its payload as received, unless its header was
        # accepted with wrong fields: those are counted and decoded as the receiver would.
        accepted = np.flatnonzero(a.accepted)
        wrong = accepted[:0]
        if accepted.size:  # (with none, the batch's symbols have no columns)
            got = a.batch.symbols[accepted, :count]
            wrong = accepted[(got != payload[accepted]).any(1)]
            if wrong.size:
                pred[wrong] = predict(a.batch.symbols[wrong, :count], ber[wrong])
        return Outcome(pred, size, np.where(a.lengths > 0, every, -1), int(wrong.size))

    payload_bytes = bits.packed_len(count, nbits)
    return System(name, label, "semantic", payload_bytes, frames.shape[1], receive)
