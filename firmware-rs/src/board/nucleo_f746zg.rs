//! NUCLEO-F746ZG (STM32F746ZG, Cortex-M7, 216 MHz). Records go over USART3
//! (PD8 TX, PD9 RX), the ST-LINK virtual COM port, at 115200 baud, and over
//! RTT; log lines over RTT (defmt); time is the DWT cycle counter.
//!
//! Clocks: PLL from HSI to 216 MHz with over-drive and 7 flash wait states
//! (stm32f7xx-hal, given the plan's factors), and the core's L1 instruction
//! and data caches on: the code runs from flash over AXIM (0x0800_0000),
//! which the I-cache serves. ART and prefetch are set too, though they only
//! serve fetches over the ITCM flash interface (0x0020_0000), unused here. Nothing here uses DMA, so
//! the D-cache needs no maintenance; the RTT buffers sit in the uncached
//! DTCM (`boards/nucleo-f746zg/memory.x`).

use core::cell::RefCell;

use critical_section::Mutex;
use semanticnn_core::firmware::clock::Pll;
use stm32f7xx_hal::{
    pac,
    prelude::*,
    rcc::PLLP,
    serial::{self, Rx, Serial, Tx},
};

use crate::clock::Observed;

pub const NAME: &str = "nucleo-f746zg";
pub const COUNTER_UNIT: &str = "cycles";

pub use crate::counter::dwt as counter;

static TX: Mutex<RefCell<Option<Tx<pac::USART3>>>> = Mutex::new(RefCell::new(None));
static RX: Mutex<RefCell<Option<Rx<pac::USART3>>>> = Mutex::new(RefCell::new(None));

/// RTT, clocks and caches, USART3 at 115200 8N1, the cycle counter, the
/// `CLOCK` record.
pub fn init() {
    crate::rtt::init();
    let (Some(dp), Some(mut cp)) = (pac::Peripherals::take(), cortex_m::Peripherals::take()) else {
        crate::outln!("ERROR board: init called twice");
        exit(false)
    };
    let plan = crate::clock::plan();
    let mut cfgr = dp.RCC.constrain().cfgr.sysclk(plan.sysclk_hz.Hz());
    if let Some(pll) = plan.pll {
        let p = match pll.p {
            2 => PLLP::Div2,
            4 => PLLP::Div4,
            6 => PLLP::Div6,
            _ => PLLP::Div8,
        };
        cfgr = cfgr.use_pll().pllm(pll.m).plln(pll.n).pllp(p).pllq(pll.q);
    }
    let clocks = cfgr
        .hclk(plan.sysclk_hz.Hz())
        .pclk1(plan.pclk1_hz().Hz())
        .pclk2(plan.pclk2_hz().Hz())
        .freeze();
    // The HAL writes the latency alone; ART and prefetch come on after it.
    dp.FLASH
        .acr
        .modify(|_, w| w.arten().set_bit().prften().set_bit());
    cp.SCB.enable_icache();
    cp.SCB.enable_dcache(&mut cp.CPUID);

    let gpiod = dp.GPIOD.split();
    let serial = Serial::new(
        dp.USART3,
        (gpiod.pd8.into_alternate(), gpiod.pd9.into_alternate()),
        &clocks,
        serial::Config {
            baud_rate: 115_200.bps(),
            ..Default::default()
        },
    );
    let (tx, rx) = serial.split();
    critical_section::with(|cs| {
        TX.borrow(cs).replace(Some(tx));
        RX.borrow(cs).replace(Some(rx));
    });
    crate::counter::dwt::enable();

    let acr = dp.FLASH.acr.read();
    // SAFETY: reads of RCC and PWR status registers, which the HAL owns and
    // no longer writes after `freeze`.
    let (rcc, pwr) = unsafe { (&*pac::RCC::ptr(), &*pac::PWR::ptr()) };
    let seen = Observed {
        sysclk_hz: clocks.sysclk().raw(),
        pll: rcc
            .cfgr
            .read()
            .sws()
            .is_pll()
            .then(|| Pll::from_pllcfgr(rcc.pllcfgr.read().bits())),
        flash_wait_states: acr.latency().bits(),
        overdrive: pwr.csr1.read().odswrdy().bit(),
        icache: cortex_m::peripheral::SCB::icache_enabled(),
        dcache: cortex_m::peripheral::SCB::dcache_enabled(),
    };
    crate::clock::check(&plan, &seen);
}

/// Output backend: USART3 (blocking) and the RTT frames channel.
pub fn write(bytes: &[u8]) {
    critical_section::with(|cs| {
        if let Some(tx) = TX.borrow(cs).borrow_mut().as_mut() {
            for &b in bytes {
                let _ = nb::block!(tx.write(b));
            }
            let _ = nb::block!(tx.flush());
        }
    });
    crate::rtt::write(bytes);
}

/// Fill `buf` from USART3, blocking; a framing, noise or overrun error is
/// cleared and reading goes on (the stream's header check catches garbage).
pub fn read(buf: &mut [u8]) {
    critical_section::with(|cs| {
        if let Some(rx) = RX.borrow(cs).borrow_mut().as_mut() {
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

pub fn exit(_success: bool) -> ! {
    super::halt()
}
