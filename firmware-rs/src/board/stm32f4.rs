//! What the STM32F4 boards share: the clocks from the plan through
//! stm32f4xx-hal, the registers read back, and a blocking UART.

use core::cell::RefCell;

use critical_section::Mutex;
use semanticnn_core::firmware::clock::{ClockPlan, Pll};
use stm32f4xx_hal::{
    pac,
    prelude::*,
    rcc::{Config, Rcc},
    serial::{config::InvalidConfig, Instance, Rx, Serial, Tx},
};

use crate::clock::Observed;

/// The chip's peripherals, once; a second call is reported and ends the run.
pub fn take() -> pac::Peripherals {
    match pac::Peripherals::take() {
        Some(dp) => dp,
        None => {
            crate::outln!("ERROR board: init called twice");
            crate::board::exit(false)
        }
    }
}

/// Clocks from the plan, the board's UART (`open` it at 115200 8N1 with the
/// frozen clocks; `name` for the error), then the `CLOCK` record.
pub fn start<U: Instance>(
    rcc: pac::RCC,
    uart: &Uart<U>,
    name: &str,
    open: impl FnOnce(&mut Rcc) -> Result<Serial<U>, InvalidConfig>,
) {
    let plan = crate::clock::plan();
    let mut rcc = freeze(rcc, &plan);
    match open(&mut rcc) {
        Ok(serial) => uart.set(serial),
        Err(_) => {
            crate::outln!("ERROR board: {} rejects 115200 baud at this clock", name);
            crate::board::exit(false)
        }
    }
    crate::clock::check(&plan, &observed(&rcc));
}

/// The HAL's RCC set up for `plan` (from HSI): it computes the same PLL
/// factors, wait states and over-drive, which `observed` reads back.
fn freeze(rcc: pac::RCC, plan: &ClockPlan) -> Rcc {
    let config = Config::hsi()
        .sysclk(plan.sysclk_hz.Hz())
        .hclk(plan.sysclk_hz.Hz())
        .pclk1(plan.pclk1_hz().Hz())
        .pclk2(plan.pclk2_hz().Hz());
    rcc.freeze(config)
}

/// The registers after `freeze`; `sysclk_hz` is the HAL's.
fn observed(rcc: &Rcc) -> Observed {
    // SAFETY: reads of RCC, FLASH and PWR status registers, owned by the HAL
    // after `freeze` and never written again.
    let (rcc_regs, flash, pwr) =
        unsafe { (&*pac::RCC::ptr(), &*pac::FLASH::ptr(), &*pac::PWR::ptr()) };
    let on_pll = rcc_regs.cfgr().read().sws().bits() == 0b10;
    let acr = flash.acr().read();
    Observed {
        sysclk_hz: rcc.clocks.sysclk().raw(),
        pll: on_pll.then(|| Pll::from_pllcfgr(rcc_regs.pllcfgr().read().bits())),
        flash_wait_states: acr.latency().bits(),
        // PWR_CSR.ODSWRDY (bit 17; reserved, reading 0, on chips without over-drive).
        overdrive: pwr.csr().read().bits() & (1 << 17) != 0,
        // The ART accelerator's instruction and data caches.
        icache: acr.icen().bit(),
        dcache: acr.dcen().bit(),
    }
}

/// A UART's two halves, kept for `write` and `read`.
pub struct Uart<U: Instance> {
    tx: Mutex<RefCell<Option<Tx<U>>>>,
    rx: Mutex<RefCell<Option<Rx<U>>>>,
}

impl<U: Instance> Uart<U> {
    pub const fn new() -> Self {
        Self {
            tx: Mutex::new(RefCell::new(None)),
            rx: Mutex::new(RefCell::new(None)),
        }
    }

    pub fn set(&self, serial: Serial<U>) {
        let (tx, rx) = serial.split();
        critical_section::with(|cs| {
            self.tx.borrow(cs).replace(Some(tx));
            self.rx.borrow(cs).replace(Some(rx));
        });
    }

    /// Send `bytes`, blocking until the last has left (the boards whose
    /// records go over the UART; the netduinoplus2's go over semihosting).
    #[cfg(feature = "rtt")]
    pub fn write(&self, bytes: &[u8]) {
        critical_section::with(|cs| {
            if let Some(tx) = self.tx.borrow(cs).borrow_mut().as_mut() {
                for &b in bytes {
                    let _ = nb::block!(tx.write(b));
                }
                let _ = nb::block!(tx.flush());
            }
        });
    }

    /// Fill `buf`, blocking; a byte with a framing, noise or overrun error
    /// is skipped (the stream's header check catches garbage).
    pub fn read(&self, buf: &mut [u8]) {
        critical_section::with(|cs| {
            if let Some(rx) = self.rx.borrow(cs).borrow_mut().as_mut() {
                for b in buf.iter_mut() {
                    *b = loop {
                        if let Ok(v) = rx.read() {
                            break v;
                        }
                    };
                }
            }
        });
    }
}
