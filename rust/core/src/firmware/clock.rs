//! Each board's clock tree, computed from its chip's limits in the reference
//! manual: the PLL factors, flash wait states, over-drive and bus prescalers.
//! The firmware hands the plan to the HAL and checks the chip's registers
//! against it; the host tools print expected times from its SYSCLK. One
//! place, so that the numbers a user reads are the ones the chip runs at.

use core::fmt;

/// HSI: the 16 MHz internal oscillator every STM32F4/F7 starts on. The boards
/// run their PLL from it, so that no solder bridge (the ST-LINK's 8 MHz MCO)
/// has to be in place; its ±1% is well inside what a UART tolerates.
pub const HSI_HZ: u32 = 16_000_000;
/// The PLL's input after the M divider. The manuals allow 1–2 MHz and
/// recommend 2 MHz "to limit PLL jitter".
pub const VCO_INPUT_HZ: u32 = 2_000_000;
/// VCO output range (100–432 MHz on the F405, F446 and F746).
pub const VCO_MIN_HZ: u32 = 100_000_000;
pub const VCO_MAX_HZ: u32 = 432_000_000;
/// The PLL's Q output feeds the 48 MHz domain (USB, SDIO, RNG): at most this.
pub const PLL48_MAX_HZ: u32 = 48_000_000;

/// What a chip's reference manual allows at 2.7–3.6 V (the NUCLEO boards'
/// 3.3 V).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub chip: &'static str,
    pub sysclk_max_hz: u32,
    /// Above this HCLK the regulator must be in over-drive (None: no over-drive).
    pub overdrive_above_hz: Option<u32>,
    pub pclk1_max_hz: u32,
    pub pclk2_max_hz: u32,
    /// The flash needs one more wait state per this much HCLK.
    pub hz_per_wait_state: u32,
}

/// STM32F405/407, RM0090: 168 MHz, APB1 42 MHz, APB2 84 MHz; Table 10, one
/// wait state per 30 MHz.
pub const STM32F405: Limits = Limits {
    chip: "STM32F405",
    sysclk_max_hz: 168_000_000,
    overdrive_above_hz: None,
    pclk1_max_hz: 42_000_000,
    pclk2_max_hz: 84_000_000,
    hz_per_wait_state: 30_000_000,
};

/// STM32F446, RM0390: 180 MHz with over-drive above 168 MHz (§5.1.4), APB1
/// 45 MHz, APB2 90 MHz; Table 5, one wait state per 30 MHz.
pub const STM32F446: Limits = Limits {
    chip: "STM32F446",
    sysclk_max_hz: 180_000_000,
    overdrive_above_hz: Some(168_000_000),
    pclk1_max_hz: 45_000_000,
    pclk2_max_hz: 90_000_000,
    hz_per_wait_state: 30_000_000,
};

/// STM32F745/746, RM0385: 216 MHz with over-drive above 180 MHz (§4.1.4),
/// APB1 54 MHz, APB2 108 MHz; Table 5, one wait state per 30 MHz.
pub const STM32F746: Limits = Limits {
    chip: "STM32F746",
    sysclk_max_hz: 216_000_000,
    overdrive_above_hz: Some(180_000_000),
    pclk1_max_hz: 54_000_000,
    pclk2_max_hz: 108_000_000,
    hz_per_wait_state: 30_000_000,
};

/// The main PLL: VCO = source / m * n, SYSCLK = VCO / p, the 48 MHz domain
/// VCO / q. The fields are the divisors themselves (p is 2, 4, 6 or 8), not
/// their register encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pll {
    pub m: u8,
    pub n: u16,
    pub p: u8,
    pub q: u8,
}

impl Pll {
    /// The factors in an `RCC_PLLCFGR` value (the same layout on F4 and F7):
    /// PLLM in bits 5..0, PLLN in 14..6, PLLP in 17..16 as (p / 2 - 1),
    /// PLLQ in 27..24.
    pub fn from_pllcfgr(pllcfgr: u32) -> Pll {
        Pll {
            m: (pllcfgr & 0x3F) as u8,
            n: ((pllcfgr >> 6) & 0x1FF) as u16,
            p: (((pllcfgr >> 16) & 0b11) as u8 + 1) * 2,
            q: ((pllcfgr >> 24) & 0xF) as u8,
        }
    }

    pub fn vco_hz(&self, source_hz: u32) -> u32 {
        source_hz / u32::from(self.m) * u32::from(self.n)
    }
}

/// A clock tree for one SYSCLK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockPlan {
    pub source_hz: u32,
    pub sysclk_hz: u32,
    /// None: SYSCLK is the source itself (the reset state).
    pub pll: Option<Pll>,
    pub flash_wait_states: u8,
    pub overdrive: bool,
    /// APB prescalers (HCLK = SYSCLK: the AHB is never divided here).
    pub apb1_div: u8,
    pub apb2_div: u8,
}

impl ClockPlan {
    pub fn pclk1_hz(&self) -> u32 {
        self.sysclk_hz / u32::from(self.apb1_div)
    }

    pub fn pclk2_hz(&self) -> u32 {
        self.sysclk_hz / u32::from(self.apb2_div)
    }
}

/// Why no plan reaches a SYSCLK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockError {
    /// Above the chip's maximum.
    TooFast {
        chip: &'static str,
        sysclk_hz: u32,
        max_hz: u32,
    },
    /// No integer PLL factors give it exactly from the source.
    Unreachable { source_hz: u32, sysclk_hz: u32 },
}

impl fmt::Display for ClockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ClockError::TooFast {
                chip,
                sysclk_hz,
                max_hz,
            } => write!(f, "{sysclk_hz} Hz is above the {chip}'s {max_hz} Hz"),
            ClockError::Unreachable {
                source_hz,
                sysclk_hz,
            } => write!(
                f,
                "no PLL factors give {sysclk_hz} Hz exactly from a {source_hz} Hz source \
                 (VCO input {VCO_INPUT_HZ} Hz, VCO {VCO_MIN_HZ}..={VCO_MAX_HZ} Hz, P in 2, 4, 6, 8)"
            ),
        }
    }
}

/// The clock tree that runs `limits`' chip at `sysclk_hz` from `source_hz`.
///
/// The PLL runs its VCO as high as P allows (the largest of 2, 4, 6, 8 that
/// keeps it within range), as ST's tools and the HALs do; Q keeps the 48 MHz
/// domain at or below 48 MHz. Wait states follow the manual's table, one per
/// `hz_per_wait_state` of HCLK begun; each APB gets the smallest power-of-two
/// prescaler that keeps it within its maximum.
pub fn plan(limits: &Limits, source_hz: u32, sysclk_hz: u32) -> Result<ClockPlan, ClockError> {
    if sysclk_hz > limits.sysclk_max_hz {
        return Err(ClockError::TooFast {
            chip: limits.chip,
            sysclk_hz,
            max_hz: limits.sysclk_max_hz,
        });
    }
    let unreachable = ClockError::Unreachable {
        source_hz,
        sysclk_hz,
    };
    if sysclk_hz == 0 {
        return Err(unreachable);
    }
    let pll = if sysclk_hz == source_hz {
        None
    } else {
        Some(pll_for(source_hz, sysclk_hz).ok_or(unreachable)?)
    };
    let apb_div = |max_hz: u32| {
        let mut div = 1u8;
        while sysclk_hz / u32::from(div) > max_hz {
            div *= 2;
        }
        div
    };
    Ok(ClockPlan {
        source_hz,
        sysclk_hz,
        pll,
        flash_wait_states: ((sysclk_hz - 1) / limits.hz_per_wait_state) as u8,
        overdrive: limits
            .overdrive_above_hz
            .is_some_and(|above| sysclk_hz > above),
        apb1_div: apb_div(limits.pclk1_max_hz),
        apb2_div: apb_div(limits.pclk2_max_hz),
    })
}

fn pll_for(source_hz: u32, sysclk_hz: u32) -> Option<Pll> {
    if !source_hz.is_multiple_of(VCO_INPUT_HZ) {
        return None;
    }
    let m = u8::try_from(source_hz / VCO_INPUT_HZ)
        .ok()
        .filter(|m| (2..=63).contains(m))?;
    let p = [8u8, 6, 4, 2]
        .into_iter()
        .find(|&p| u64::from(sysclk_hz) * u64::from(p) <= u64::from(VCO_MAX_HZ))?;
    let vco_hz = sysclk_hz * u32::from(p);
    if vco_hz < VCO_MIN_HZ || !vco_hz.is_multiple_of(VCO_INPUT_HZ) {
        return None;
    }
    let n = u16::try_from(vco_hz / VCO_INPUT_HZ)
        .ok()
        .filter(|n| (50..=432).contains(n))?;
    let q = u8::try_from(vco_hz.div_ceil(PLL48_MAX_HZ))
        .ok()
        .map(|q| q.max(2))
        .filter(|q| *q <= 15)?;
    Some(Pll { m, n, p, q })
}

/// A board's chip and the SYSCLK its firmware runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardClock {
    pub board: &'static str,
    pub limits: Limits,
    pub sysclk_hz: u32,
}

/// Every board's clock. The real boards run at their chip's maximum. The
/// netduinoplus2 stays on its reset clock (HSI, no PLL): QEMU's model of it
/// has no RCC, so a HAL waiting for the PLL to lock would wait forever (QEMU
/// times it at 168 MHz whatever the firmware sets).
pub const BOARDS: [BoardClock; 3] = [
    BoardClock {
        board: "netduinoplus2",
        limits: STM32F405,
        sysclk_hz: HSI_HZ,
    },
    BoardClock {
        board: "nucleo-f446re",
        limits: STM32F446,
        sysclk_hz: 180_000_000,
    },
    BoardClock {
        board: "nucleo-f746zg",
        limits: STM32F746,
        sysclk_hz: 216_000_000,
    },
];

/// The clock plan of board `name` (from HSI), or None for an unknown board.
pub fn board_plan(name: &str) -> Option<Result<ClockPlan, ClockError>> {
    BOARDS
        .iter()
        .find(|b| b.board == name)
        .map(|b| plan(&b.limits, HSI_HZ, b.sysclk_hz))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MHZ: u32 = 1_000_000;

    /// The reference manuals' wait-state tables at 2.7–3.6 V: the highest
    /// HCLK (MHz) each wait-state count allows. RM0090 Table 10 (F405, up to
    /// 168), RM0390 Table 5 (F446, up to 180), RM0385 Table 5 (F746, up to 216).
    const F405_TABLE: &[u32] = &[30, 60, 90, 120, 150, 168];
    const F446_TABLE: &[u32] = &[30, 60, 90, 120, 150, 180];
    const F746_TABLE: &[u32] = &[30, 60, 90, 120, 150, 180, 210, 216];

    fn table_wait_states(table: &[u32], hclk_hz: u32) -> u8 {
        table.iter().position(|&top| hclk_hz <= top * MHZ).unwrap() as u8
    }

    #[test]
    fn every_board_plan_matches_the_manuals() {
        // (board, PLL M/N/P/Q, wait states, over-drive, APB1, APB2)
        let expected = [
            ("netduinoplus2", None, 0, false, 1, 1),
            (
                "nucleo-f446re",
                Some(Pll {
                    m: 8,
                    n: 180,
                    p: 2,
                    q: 8,
                }),
                5,
                true,
                4,
                2,
            ),
            (
                "nucleo-f746zg",
                Some(Pll {
                    m: 8,
                    n: 216,
                    p: 2,
                    q: 9,
                }),
                7,
                true,
                4,
                2,
            ),
        ];
        for (board, pll, ws, overdrive, apb1, apb2) in expected {
            let plan = board_plan(board).unwrap().unwrap();
            assert_eq!(plan.pll, pll, "{board}");
            assert_eq!(plan.flash_wait_states, ws, "{board}");
            assert_eq!(plan.overdrive, overdrive, "{board}");
            assert_eq!((plan.apb1_div, plan.apb2_div), (apb1, apb2), "{board}");
        }
        assert!(board_plan("nucleo-f103rb").is_none());
    }

    #[test]
    fn every_reachable_sysclk_is_exact_and_within_the_limits() {
        for (limits, table) in [
            (STM32F405, F405_TABLE),
            (STM32F446, F446_TABLE),
            (STM32F746, F746_TABLE),
        ] {
            let mut reached = 0;
            for mhz in 13..=limits.sysclk_max_hz / MHZ {
                let sysclk = mhz * MHZ;
                let Ok(plan) = plan(&limits, HSI_HZ, sysclk) else {
                    continue;
                };
                reached += 1;
                assert_eq!(
                    plan.flash_wait_states,
                    table_wait_states(table, sysclk),
                    "{} at {mhz} MHz",
                    limits.chip
                );
                assert!(plan.pclk1_hz() <= limits.pclk1_max_hz);
                assert!(plan.pclk1_hz() * 2 > limits.pclk1_max_hz || plan.apb1_div == 1);
                assert!(plan.pclk2_hz() <= limits.pclk2_max_hz);
                assert_eq!(
                    plan.overdrive,
                    limits.overdrive_above_hz.is_some_and(|a| sysclk > a)
                );
                if let Some(pll) = plan.pll {
                    let vco = pll.vco_hz(HSI_HZ);
                    assert_eq!(HSI_HZ / u32::from(pll.m), VCO_INPUT_HZ);
                    assert!((VCO_MIN_HZ..=VCO_MAX_HZ).contains(&vco), "{mhz} MHz");
                    assert_eq!(vco / u32::from(pll.p), sysclk, "{mhz} MHz");
                    assert!(vco / u32::from(pll.q) <= PLL48_MAX_HZ);
                    assert!((2..=15).contains(&pll.q) && (50..=432).contains(&pll.n));
                }
            }
            // With a 2 MHz VCO input every whole MHz from 13 up is exact
            // (VCO = SYSCLK * P is then an even number of MHz).
            assert_eq!(reached, limits.sysclk_max_hz / MHZ - 12, "{}", limits.chip);
        }
    }

    #[test]
    fn refusals_name_the_limit() {
        let e = plan(&STM32F446, HSI_HZ, 200 * MHZ).unwrap_err();
        assert_eq!(
            e.to_string(),
            "200000000 Hz is above the STM32F446's 180000000 Hz"
        );
        let e = plan(&STM32F746, HSI_HZ, 12 * MHZ).unwrap_err();
        assert!(matches!(e, ClockError::Unreachable { .. }), "{e}");
        assert!(plan(&STM32F746, 25 * MHZ, 216 * MHZ).is_err()); // 25 MHz / 2 MHz is not whole
        assert!(plan(&STM32F746, HSI_HZ, 0).is_err());
    }

    #[test]
    fn pllcfgr_round_trip() {
        // RCC_PLLCFGR as RM0385 lays it out, for M=8, N=216, P=2 (00), Q=9, HSI source.
        let pllcfgr = 8 | (216 << 6) | (9 << 24); // PLLP = 0b00: P = 2
        let pll = Pll::from_pllcfgr(pllcfgr);
        assert_eq!(
            pll,
            Pll {
                m: 8,
                n: 216,
                p: 2,
                q: 9
            }
        );
        assert_eq!(Pll::from_pllcfgr(0b11 << 16).p, 8);
        // The reset value (RM0385 §5.3.2: 0x2400_3010) is M=16, N=192, P=2, Q=4.
        assert_eq!(
            Pll::from_pllcfgr(0x2400_3010),
            Pll {
                m: 16,
                n: 192,
                p: 2,
                q: 4
            }
        );
    }
}
