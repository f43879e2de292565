//! AVX2 paths of [`pack`](super::pack) and [`unpack`](super::unpack) on x86_64,
//! chosen at run time (`std` only); they give exactly the scalar paths' bytes.
//!
//! 32 symbols (four groups of eight) per step, with the same three lane steps
//! as the scalar merge (8→16→32→64-bit lanes, here in little-endian lanes;
//! packing does them as multiply-adds for n <= 6, shifts otherwise);
//! one byte shuffle per 128-bit half then orders each group's `N` bytes
//! big-endian. Each half's `2N` bytes are written by a 16-byte store, the
//! next store overwriting the surplus, so a step needs `2N + 16` bytes of
//! room: the scalar path does what is left.
use core::arch::x86_64::{
    __m128i, __m256i, _mm256_and_si256, _mm256_bslli_epi128, _mm256_castsi256_si128,
    _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_madd_epi16, _mm256_maddubs_epi16,
    _mm256_mul_epu32, _mm256_or_si256, _mm256_set1_epi16, _mm256_set1_epi32, _mm256_set1_epi64x,
    _mm256_set1_epi8, _mm256_set_m128i, _mm256_shuffle_epi8, _mm256_sll_epi16, _mm256_sll_epi32,
    _mm256_sll_epi64, _mm256_srl_epi16, _mm256_srl_epi32, _mm256_srl_epi64, _mm256_srli_epi64,
    _mm256_storeu_si256, _mm256_testz_si256, _mm_cvtsi32_si128, _mm_loadu_si128, _mm_storeu_si128,
};

/// Whether this CPU runs the AVX2 paths.
pub(super) fn available() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// Symbols per step.
const STEP: usize = 32;

/// The byte shuffle (for both 128-bit halves) that takes the low `N` bytes
/// of each 64-bit lane to bytes `0..N` (first lane) and `N..2N` (second),
/// most significant first; `pack == true` — or its inverse for unpacking.
const fn shuffle<const N: usize>(pack: bool) -> [u8; 32] {
    let mut m = [0x80u8; 32];
    let mut half = 0;
    while half < 2 {
        let mut lane = 0;
        while lane < 2 {
            let mut k = 0;
            while k < N {
                let (to, from) = if pack {
                    (lane * N + k, lane * 8 + N - 1 - k)
                } else {
                    (lane * 8 + k, lane * N + N - 1 - k)
                };
                m[half * 16 + to] = from as u8;
                k += 1;
            }
            lane += 1;
        }
        half += 1;
    }
    m
}

#[inline]
#[target_feature(enable = "avx2")]
fn count(n: usize) -> __m128i {
    _mm_cvtsi32_si128(n as i32)
}

/// Packs whole steps of `symbols` into `out` while they fit; stops before
/// the first step holding a symbol `>= 2^N` (the scalar path reports it).
/// Returns the symbols packed (a multiple of 32; `N` bytes per eight).
///
/// # Safety
/// The CPU must support AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn pack<const N: usize>(symbols: &[u8], out: &mut [u8]) -> usize {
    let mask = shuffle::<N>(true);
    // SAFETY (all loads here): `[u8; 32]` and `__m256i` have the same size,
    // and the unaligned load reads exactly those 32 bytes.
    let mask = unsafe { _mm256_loadu_si256(mask.as_ptr().cast()) };
    let too_big = _mm256_set1_epi8(!((1u16 << N) - 1) as u8 as i8);
    let (bytes8, bytes16, bytes32) = (
        _mm256_set1_epi16(0xff),
        _mm256_set1_epi32(0xffff),
        _mm256_set1_epi64x(0xffff_ffff),
    );
    // Multipliers of the first symbol of each pair (little-endian lanes).
    let pair8 = _mm256_set1_epi16((1 << N.min(6)) | 1 << 8);
    let pair16 = _mm256_set1_epi32((1 << (2 * N).min(14)) | 1 << 16);
    let pair32 = _mm256_set1_epi64x(1 << (4 * N).min(31));
    let mut done = 0;
    for (i, step) in symbols.chunks_exact(STEP).enumerate() {
        let o = i * 4 * N;
        if o + 2 * N + 16 > out.len() {
            break;
        }
        let x = unsafe { _mm256_loadu_si256(step.as_ptr().cast()) };
        if _mm256_testz_si256(x, too_big) == 0 {
            break;
        }
        let x = if N <= 6 {
            // The same merges as multiply-adds: a·2^N + b in 16-bit lanes
            // (bytes times signed bytes, N <= 6 keeps 2^N an i8), then
            // a·2^2N + b in 32-bit lanes, then a·2^4N (the low 32 bits of
            // each 64-bit lane) plus the high 32 bits.
            let x = _mm256_maddubs_epi16(x, pair8);
            let x = _mm256_madd_epi16(x, pair16);
            _mm256_or_si256(_mm256_mul_epu32(x, pair32), _mm256_srli_epi64::<32>(x))
        } else {
            let x = _mm256_or_si256(
                _mm256_sll_epi16(_mm256_and_si256(x, bytes8), count(N)),
                _mm256_srl_epi16(x, count(8)),
            );
            let x = _mm256_or_si256(
                _mm256_sll_epi32(_mm256_and_si256(x, bytes16), count(2 * N)),
                _mm256_srl_epi32(x, count(16)),
            );
            _mm256_or_si256(
                _mm256_sll_epi64(_mm256_and_si256(x, bytes32), count(4 * N)),
                _mm256_srl_epi64(x, count(32)),
            )
        };
        let x = _mm256_shuffle_epi8(x, mask);
        let dst = out[o..].as_mut_ptr();
        // SAFETY: o + 2N + 16 <= out.len() was checked above, so both
        // 16-byte stores stay inside `out`.
        unsafe {
            _mm_storeu_si128(dst.cast(), _mm256_castsi256_si128(x));
            _mm_storeu_si128(dst.add(2 * N).cast(), _mm256_extracti128_si256::<1>(x));
        }
        done += STEP;
    }
    done
}

/// Unpacks whole steps of `packed` into `out` while they fit; returns the
/// symbols written (a multiple of 32).
///
/// # Safety
/// The CPU must support AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn unpack<const N: usize>(packed: &[u8], out: &mut [u8]) -> usize {
    let mask = shuffle::<N>(false);
    let mask = unsafe { _mm256_loadu_si256(mask.as_ptr().cast()) };
    let (low_n, low_2n, low_4n) = (
        _mm256_set1_epi16(((1u32 << N) - 1) as i16),
        _mm256_set1_epi32(((1u64 << (2 * N)) - 1) as i32),
        _mm256_set1_epi64x(((1u64 << (4 * N)) - 1) as i64),
    );
    let mut done = 0;
    for (i, step) in out.chunks_exact_mut(STEP).enumerate() {
        let o = i * 4 * N;
        if o + 2 * N + 16 > packed.len() {
            break;
        }
        // SAFETY: o + 2N + 16 <= packed.len() was checked above, so both
        // 16-byte loads read inside `packed`.
        let x = unsafe {
            let src = packed[o..].as_ptr();
            _mm256_set_m128i(
                _mm_loadu_si128(src.add(2 * N).cast()),
                _mm_loadu_si128(src.cast()),
            )
        };
        let x = _mm256_shuffle_epi8(x, mask);
        // Each step's second half moves up by a byte shift of the whole
        // 128-bit lane: the masked value's upper part is zero, so nothing
        // crosses into the next element (and it spares the shift unit).
        let x = _mm256_or_si256(
            _mm256_srl_epi64(x, count(4 * N)),
            _mm256_bslli_epi128::<4>(_mm256_and_si256(x, low_4n)),
        );
        let x = _mm256_or_si256(
            _mm256_srl_epi32(x, count(2 * N)),
            _mm256_bslli_epi128::<2>(_mm256_and_si256(x, low_2n)),
        );
        let x = _mm256_or_si256(
            _mm256_srl_epi16(x, count(N)),
            _mm256_bslli_epi128::<1>(_mm256_and_si256(x, low_n)),
        );
        // SAFETY: `step` is 32 bytes.
        unsafe { _mm256_storeu_si256(step.as_mut_ptr().cast::<__m256i>(), x) };
        done += STEP;
    }
    done
}
