//! Splitting large buffers over threads (host only).
//!
//! The work is cut into pieces at fixed boundaries chosen by the caller (whole
//! symbol groups, whole channel chunks), never by the thread count, so the
//! result is the same for every thread count. Threads are scoped and spawned
//! per call: no global pool survives a `fork()` (PyTorch DataLoader workers).

/// Below this many bytes of work per thread, spawning costs more than it saves.
pub const MIN_BYTES_PER_THREAD: usize = 1 << 20;

/// How many threads to use for `bytes` of work when the caller asked for
/// `requested` (0 = all available cores).
pub fn thread_count(requested: usize, bytes: usize) -> usize {
    let available = if requested == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        requested
    };
    available.min(bytes / MIN_BYTES_PER_THREAD).max(1)
}

/// Runs `f(first_unit, a_piece, b_piece)` over `a` and `b` cut into pieces
/// of whole units (`a_unit` elements of `a` correspond to `b_unit` of `b`),
/// on `threads` threads, and returns the first error in buffer order.
///
/// Each thread gets one contiguous run of units; `first_unit` is the index of
/// the piece's first unit in the whole buffer.
pub fn split2<A: Sync, B: Send, E: Send>(
    a: &[A],
    a_unit: usize,
    b: &mut [B],
    b_unit: usize,
    threads: usize,
    f: impl Fn(usize, &[A], &mut [B]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let units = a.len().div_ceil(a_unit.max(1));
    let threads = threads.clamp(1, units.max(1));
    if threads == 1 {
        return f(0, a, b);
    }
    let per = units.div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = a
            .chunks(per * a_unit)
            .zip(b.chunks_mut(per * b_unit))
            .enumerate()
            .map(|(t, (ap, bp))| s.spawn(move || f(t * per, ap, bp)))
            .collect();
        // Join all, then report the first error in buffer order.
        let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        for r in results {
            match r {
                Ok(r) => r?,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(())
    })
}

/// Runs `f(first_unit, piece)` over `buf` cut into pieces of whole units of
/// `unit` elements, on `threads` threads.
pub fn split_mut<B: Send>(
    buf: &mut [B],
    unit: usize,
    threads: usize,
    f: impl Fn(usize, &mut [B]) + Sync,
) {
    let units = buf.len().div_ceil(unit.max(1));
    let threads = threads.clamp(1, units.max(1));
    if threads == 1 {
        return f(0, buf);
    }
    let per = units.div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        for (t, piece) in buf.chunks_mut(per * unit).enumerate() {
            s.spawn(move || f(t * per, piece));
        }
    });
}

/// Runs `f(state, a_piece, b_piece)` over `a` and `b` cut into chunks
/// (`a_chunk` elements of `a` correspond to `b_chunk > 0` of `b`; the last
/// chunks may be shorter) on `threads` threads, the calling one included. Each thread claims
/// the next chunk when it is done with one, so a thread that the machine
/// slows down does less of the work, and keeps one `state` (from `init`)
/// for all its chunks. Returns the first error in buffer order.
///
/// Which thread runs a chunk varies from run to run; callers whose chunks are
/// independent (whole images) get the same result for every thread count.
pub fn claim2<A: Sync, B: Send, S, E: Send>(
    a: &[A],
    a_chunk: usize,
    b: &mut [B],
    b_chunk: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &[A], &mut [B]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    use std::sync::{Mutex, PoisonError};

    let (ca, cb) = (a_chunk.max(1), b_chunk.max(1));
    let threads = threads.clamp(1, a.len().div_ceil(ca).max(1));
    let pieces = Mutex::new(a.chunks(ca).zip(b.chunks_mut(cb)).enumerate());
    let first_err: Mutex<Option<(usize, E)>> = Mutex::new(None);
    let work = || {
        let mut state = init();
        loop {
            let next = pieces.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((i, (ap, bp))) = next else { break };
            if let Err(e) = f(&mut state, ap, bp) {
                let mut first = first_err.lock().unwrap_or_else(PoisonError::into_inner);
                if first.as_ref().is_none_or(|(j, _)| i < *j) {
                    *first = Some((i, e));
                }
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    match first_err
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::claim2;

    /// Every unit is processed once, into its own place; the first error in
    /// buffer order wins.
    #[test]
    fn claim2_covers_every_unit_and_reports_the_first_error() {
        let a: Vec<u32> = (0..103 * 3).collect();
        let want: Vec<u32> = a.chunks(3).map(|u| u.iter().sum()).collect();
        for threads in 1..5 {
            for chunk in [1, 4, 200] {
                let mut b = vec![0u32; 103];
                let sums = |_: &mut (), ap: &[u32], bp: &mut [u32]| -> Result<(), ()> {
                    for (u, d) in ap.chunks(3).zip(bp.iter_mut()) {
                        *d = u.iter().sum();
                    }
                    Ok(())
                };
                let r = claim2(&a, 3 * chunk, &mut b, chunk, threads, || (), sums);
                assert_eq!(r, Ok(()));
                assert_eq!(b, want, "threads {threads}, chunk {chunk}");
            }
            let mut b = vec![0u32; 103];
            let fails = |_: &mut (), ap: &[u32], _: &mut [u32]| match ap[0] / 3 {
                u @ (40 | 41 | 90) => Err(u),
                _ => Ok(()),
            };
            let r = claim2(&a, 3, &mut b, 1, threads, || (), fails);
            assert_eq!(r, Err(40), "threads {threads}");
        }
    }
}
