//! Batches of frames: each row of an `(N, L)` buffer through its own channel,
//! at its own parameters, on its own seed, in one call. Row `i` gets exactly
//! what the single-buffer function gives it with `seeds[i]`, so a batch and a
//! loop over its rows agree bit for bit; rows are split over threads.
use super::bsc::bsc;
use super::gilbert_elliott::{gilbert_elliott, GilbertElliott};
use super::{check_probability, ChannelError};

/// The rows of `buf` (`row_len` bytes each), checked against the lengths of
/// the per-row arguments.
fn row_count(
    buf: &[u8],
    row_len: usize,
    per_row: &[(&'static str, usize)],
) -> Result<usize, ChannelError> {
    let rows = buf.len().checked_div(row_len).unwrap_or(0);
    if rows * row_len != buf.len() {
        return Err(ChannelError::NotWholeRows {
            bytes: buf.len(),
            row_len,
        });
    }
    for &(name, got) in per_row {
        if got != rows {
            return Err(ChannelError::RowMismatch { name, got, rows });
        }
    }
    Ok(rows)
}

/// Runs `apply(row, index)` on every row, split over `threads` threads.
fn for_rows(
    buf: &mut [u8],
    row_len: usize,
    threads: usize,
    apply: impl Fn(&mut [u8], usize) + Sync,
) {
    if row_len == 0 {
        return;
    }
    // Pieces of whole rows; enough rows per piece that a thread is worth it.
    let rows_per_unit = (super::rng::CHUNK_BYTES / row_len).max(1);
    crate::par::split_mut(
        buf,
        rows_per_unit * row_len,
        threads,
        |first_unit, piece| {
            let first_row = first_unit * rows_per_unit;
            for (i, row) in piece.chunks_mut(row_len).enumerate() {
                apply(row, first_row + i);
            }
        },
    );
}

/// [`bsc`] on each row: row `i` at `bers[i]` from `seeds[i]`.
pub fn bsc_rows(
    buf: &mut [u8],
    row_len: usize,
    bers: &[f64],
    seeds: &[u64],
    threads: usize,
) -> Result<(), ChannelError> {
    row_count(
        buf,
        row_len,
        &[("bers", bers.len()), ("seeds", seeds.len())],
    )?;
    for &ber in bers {
        check_probability("bers", ber)?;
    }
    for_rows(buf, row_len, threads, |row, i| {
        // Checked above: this cannot fail.
        let _ = bsc(row, bers[i], seeds[i]);
    });
    Ok(())
}

/// [`gilbert_elliott`] on each row: row `i` with `params[i]` from `seeds[i]`.
pub fn gilbert_elliott_rows(
    buf: &mut [u8],
    row_len: usize,
    params: &[GilbertElliott],
    seeds: &[u64],
    threads: usize,
) -> Result<(), ChannelError> {
    row_count(
        buf,
        row_len,
        &[("params", params.len()), ("seeds", seeds.len())],
    )?;
    for p in params {
        p.check()?;
    }
    for_rows(buf, row_len, threads, |row, i| {
        let _ = gilbert_elliott(row, &params[i], seeds[i]);
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn a_batch_is_its_rows_one_by_one(
            rows in 0usize..40,
            row_len in 1usize..100,
            seed in any::<u64>(),
            threads in 1usize..4,
        ) {
            let data: Vec<u8> = (0..rows * row_len).map(|i| (i * 7) as u8).collect();
            let bers: Vec<f64> = (0..rows).map(|i| [0.0, 1e-3, 0.05, 0.3, 1.0][i % 5]).collect();
            let seeds: Vec<u64> = (0..rows as u64).map(|i| seed ^ i.wrapping_mul(0x9E37)).collect();
            let ge: Vec<GilbertElliott> = bers
                .iter()
                .map(|&b| GilbertElliott { p_gb: 0.05, p_bg: 0.3, ber_good: b / 10.0, ber_bad: b })
                .collect();
            let mut batch = data.clone();
            bsc_rows(&mut batch, row_len, &bers, &seeds, threads).unwrap();
            let mut bursts = data.clone();
            gilbert_elliott_rows(&mut bursts, row_len, &ge, &seeds, threads).unwrap();
            for (i, row) in data.chunks(row_len).enumerate() {
                let mut one = row.to_vec();
                bsc(&mut one, bers[i], seeds[i]).unwrap();
                prop_assert_eq!(&batch[i * row_len..(i + 1) * row_len], &one[..]);
                let mut one = row.to_vec();
                gilbert_elliott(&mut one, &ge[i], seeds[i]).unwrap();
                prop_assert_eq!(&bursts[i * row_len..(i + 1) * row_len], &one[..]);
            }
        }
    }

    #[test]
    fn mismatched_arguments_name_themselves() {
        let mut buf = vec![0u8; 12];
        let err = bsc_rows(&mut buf, 4, &[0.1; 2], &[1; 3], 1).unwrap_err();
        assert_eq!(
            err,
            ChannelError::RowMismatch {
                name: "bers",
                got: 2,
                rows: 3
            }
        );
        let err = bsc_rows(&mut buf, 5, &[0.1; 2], &[1; 2], 1).unwrap_err();
        assert!(matches!(
            err,
            ChannelError::NotWholeRows {
                bytes: 12,
                row_len: 5
            }
        ));
        let err = bsc_rows(&mut buf, 4, &[0.1, 2.0, 0.1], &[1; 3], 1).unwrap_err();
        assert!(matches!(
            err,
            ChannelError::InvalidProbability { name: "bers", .. }
        ));
    }
}
