//! Counters for timing inference. Each board picks one (`board::counter`).
//! `start()` once, then `now()` returns a monotonic 64-bit count.

/// SysTick counting down from 2^24 at the core clock, with wrap-arounds
/// counted by its exception. Under QEMU with `-icount shift=0` the core
/// clock is virtual time, so the count is proportional to the number of
/// executed instructions; `calibrate` measures the proportion.
pub mod systick {
    use core::sync::atomic::{AtomicU32, Ordering};
    use cortex_m::peripheral::{syst::SystClkSource, SCB, SYST};

    const RELOAD: u32 = 0x00FF_FFFF;
    static WRAPS: AtomicU32 = AtomicU32::new(0);

    #[cortex_m_rt::exception]
    fn SysTick() {
        WRAPS.fetch_add(1, Ordering::Relaxed);
    }

    pub fn start() {
        // SAFETY: the firmware owns SysTick; nothing else configures it.
        let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
        syst.disable_interrupt();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(RELOAD);
        syst.clear_current();
        syst.enable_counter();
        // The current value reads 0 until the first reload: wait for it, so
        // that counting starts from a clean state.
        while SYST::get_current() == 0 {}
        let _ = syst.has_wrapped();
        WRAPS.store(0, Ordering::Relaxed);
        syst.enable_interrupt();
    }

    /// Ticks since `start`.
    pub fn now() -> u64 {
        loop {
            let wraps = WRAPS.load(Ordering::Relaxed);
            let value = SYST::get_current();
            // A wrap between the reads shows as a changed count, or as the
            // pending bit of an exception that has not run yet: read again.
            if WRAPS.load(Ordering::Relaxed) == wraps && !SCB::is_pendst_pending() {
                let elapsed = u64::from(RELOAD - value);
                return u64::from(wraps) * (u64::from(RELOAD) + 1) + elapsed;
            }
        }
    }
}

/// The DWT cycle counter of a real Cortex-M4/M7 (QEMU does not model it).
pub mod dwt {
    use core::sync::atomic::{AtomicU32, Ordering};

    static HIGH: AtomicU32 = AtomicU32::new(0);
    static LAST: AtomicU32 = AtomicU32::new(0);

    pub fn enable() {
        // SAFETY: the firmware owns the debug and trace blocks.
        let mut p = unsafe { cortex_m::Peripherals::steal() };
        p.DCB.enable_trace();
        cortex_m::peripheral::DWT::unlock();
        p.DWT.enable_cycle_counter();
    }

    pub fn start() {
        enable();
    }

    /// Cycles since reset, extended to 64 bits (call at least once per
    /// 2^32 cycles).
    pub fn now() -> u64 {
        let low = cortex_m::peripheral::DWT::cycle_count();
        if low < LAST.swap(low, Ordering::Relaxed) {
            HIGH.fetch_add(1, Ordering::Relaxed);
        }
        (u64::from(HIGH.load(Ordering::Relaxed)) << 32) | u64::from(low)
    }
}

/// A loop of exactly `2 * iterations` instructions (`subs` + `bne`), for
/// calibrating a counter against the instruction count.
#[inline(never)]
pub fn spin(iterations: u32) {
    if iterations == 0 {
        return;
    }
    // SAFETY: only r0 (clobbered, declared) and the flags are touched.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {n}, #1",
            "bne 2b",
            n = inout(reg) iterations => _,
            options(nomem, nostack),
        );
    }
}
