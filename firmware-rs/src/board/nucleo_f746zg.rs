//! NUCLEO-F746ZG (STM32F746ZG, Cortex-M7). Output goes over USART3 (PD8 TX,
//! PD9 RX), the ST-LINK virtual COM port, at 115200 baud from the 16 MHz HSI
//! the chip starts on; time is the DWT cycle counter.

use core::ptr::{read_volatile, write_volatile};

pub const NAME: &str = "nucleo-f746zg";
pub const COUNTER_UNIT: &str = "cycles";

pub use crate::counter::dwt as counter;

const RCC: usize = 0x4002_3800;
const RCC_AHB1ENR: usize = RCC + 0x30;
const RCC_APB1ENR: usize = RCC + 0x40;
const GPIOD: usize = 0x4002_0C00;
const GPIO_MODER: usize = 0x00;
const GPIO_AFRH: usize = 0x24;
const USART3: usize = 0x4000_4800;
const USART_CR1: usize = 0x00;
const USART_BRR: usize = 0x0C;
const USART_ISR: usize = 0x1C;
const USART_TDR: usize = 0x28;
const HSI_HZ: u32 = 16_000_000;
const BAUD: u32 = 115_200;

fn reg(addr: usize) -> *mut u32 {
    addr as *mut u32
}

fn modify(addr: usize, clear: u32, set: u32) {
    // SAFETY: fixed, aligned peripheral registers of the STM32F746 (RM0385);
    // the firmware is single-threaded and this runs before any interrupt.
    unsafe { write_volatile(reg(addr), (read_volatile(reg(addr)) & !clear) | set) }
}

/// Clocks, PD8/PD9 as AF7 (USART3) and the UART at 115200 8N1.
pub fn init() {
    modify(RCC_AHB1ENR, 0, 1 << 3); // GPIODEN
    modify(RCC_APB1ENR, 0, 1 << 18); // USART3EN
    modify(GPIOD + GPIO_MODER, 0b1111 << 16, 0b1010 << 16); // PD8, PD9: alternate
    modify(GPIOD + GPIO_AFRH, 0xFF, 0x77); // AF7
    modify(USART3 + USART_BRR, 0xFFFF, (HSI_HZ + BAUD / 2) / BAUD);
    modify(USART3 + USART_CR1, 0, (1 << 3) | (1 << 2) | 1); // TE, RE, UE
    crate::counter::dwt::enable();
}

/// Output backend: USART3, blocking.
pub fn write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: USART3 registers, see `modify`.
        unsafe {
            while read_volatile(reg(USART3 + USART_ISR)) & (1 << 7) == 0 {} // TXE
            write_volatile(reg(USART3 + USART_TDR), u32::from(b));
        }
    }
    // SAFETY: as above; wait for TC so nothing is cut off before a halt.
    unsafe { while read_volatile(reg(USART3 + USART_ISR)) & (1 << 6) == 0 {} }
}

const USART_RDR: usize = 0x24;

/// Fill `buf` from USART3, blocking.
pub fn read(buf: &mut [u8]) {
    for b in buf {
        // SAFETY: USART3 registers, see `modify`.
        unsafe {
            while read_volatile(reg(USART3 + USART_ISR)) & (1 << 5) == 0 {} // RXNE
            *b = read_volatile(reg(USART3 + USART_RDR)) as u8;
        }
    }
}

/// A real board has nowhere to exit to: the status line was already
/// written, so halt here.
pub fn exit(_success: bool) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
