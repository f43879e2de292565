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
