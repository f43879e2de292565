//! Peak stack use: paint the free stack with a pattern at start, later find
//! the lowest word that was overwritten.

const PATTERN: u32 = 0x5EED_57AC;

extern "C" {
    static _stack_start: u32; // top of the stack (cortex-m-rt)
    static _stack_end: u32; // lowest address the stack may reach
}

fn bounds() -> (*mut u32, usize) {
    // Linker-provided symbols: only their addresses are taken.
    let end = core::ptr::addr_of!(_stack_end) as usize;
    let start = core::ptr::addr_of!(_stack_start) as usize;
    (end as *mut u32, start)
}

/// Fill the stack below the current frame (with 256 bytes to spare) with the pattern.
pub fn paint() {
    let (end, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize - 256;
    let mut p = end;
    while (p as usize) < sp {
        // SAFETY: [_stack_end, sp) is unused stack memory, word aligned.
        unsafe { p.write_volatile(PATTERN) };
        p = p.wrapping_add(1);
    }
}

/// Bytes of stack used at the deepest point since `paint`.
pub fn peak() -> usize {
    let (end, start) = bounds();
    let mut p = end;
    // SAFETY: reads within [_stack_end, _stack_start).
    while (p as usize) < start && unsafe { p.read_volatile() } == PATTERN {
        p = p.wrapping_add(1);
    }
    start - p as usize
}
