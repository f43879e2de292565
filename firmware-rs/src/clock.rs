//! The board's clock plan (`semanticnn_core::firmware::clock`) and the check
//! that the chip runs it: the board's HAL sets the clocks from the plan, then
//! the registers are read back and compared. The `CLOCK` record says what
//! the core runs at; a mismatch is an `ERROR clock` record and ends the run.

use semanticnn_core::firmware::clock::{self, ClockPlan, Pll};

use crate::{board, info, outln};

/// The board's plan; a board without one (a build error in the core's
/// table) is reported and ends the run.
pub fn plan() -> ClockPlan {
    match clock::board_plan(board::NAME) {
        Some(Ok(plan)) => plan,
        Some(Err(e)) => {
            outln!("ERROR clock: {}", e);
            board::exit(false)
        }
        None => {
            outln!("ERROR clock: no clock plan for board {}", board::NAME);
            board::exit(false)
        }
    }
}

/// What the chip's registers say after the HAL's set-up.
pub struct Observed {
    /// SYSCLK as the HAL computed it.
    pub sysclk_hz: u32,
    /// The PLL factors when SYSCLK comes from the PLL (RCC_CFGR.SWS).
    pub pll: Option<Pll>,
    pub flash_wait_states: u8,
    pub overdrive: bool,
    pub icache: bool,
    pub dcache: bool,
}

/// Print the `CLOCK` record (and log line); end the run when the chip does
/// not run `plan`.
pub fn check(plan: &ClockPlan, seen: &Observed) {
    let (m, n, p, q) = factors(seen.pll);
    outln!(
        "CLOCK sysclk_hz={} pll_m={} pll_n={} pll_p={} pll_q={} flash_wait_states={} overdrive={} icache={} dcache={}",
        seen.sysclk_hz,
        m,
        n,
        p,
        q,
        seen.flash_wait_states,
        u8::from(seen.overdrive),
        u8::from(seen.icache),
        u8::from(seen.dcache)
    );
    info!(
        "core clock {} Hz, flash wait states {}, I-cache {}, D-cache {}",
        seen.sysclk_hz, seen.flash_wait_states, seen.icache, seen.dcache
    );
    let mismatch = if seen.sysclk_hz != plan.sysclk_hz {
        Some(("sysclk_hz", seen.sysclk_hz, plan.sysclk_hz))
    } else if seen.flash_wait_states != plan.flash_wait_states {
        Some((
            "flash_wait_states",
            u32::from(seen.flash_wait_states),
            u32::from(plan.flash_wait_states),
        ))
    } else if seen.overdrive != plan.overdrive {
        Some((
            "overdrive",
            u32::from(seen.overdrive),
            u32::from(plan.overdrive),
        ))
    } else {
        None
    };
    if seen.pll != plan.pll {
        let (pm, pn, pp, pq) = factors(plan.pll);
        outln!(
            "ERROR clock: PLL M/N/P/Q is {}/{}/{}/{}, the plan says {}/{}/{}/{}",
            m,
            n,
            p,
            q,
            pm,
            pn,
            pp,
            pq
        );
        board::exit(false)
    }
    if let Some((what, got, want)) = mismatch {
        outln!("ERROR clock: {} is {}, the plan says {}", what, got, want);
        board::exit(false)
    }
}

/// M, N, P, Q; zeros without a PLL.
fn factors(pll: Option<Pll>) -> (u8, u16, u8, u8) {
    pll.map_or((0, 0, 0, 0), |pll| (pll.m, pll.n, pll.p, pll.q))
}
