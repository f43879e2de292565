//! A panic reports its message and location on the board's output (and on
//! the probe's log where there is one), then halts (under QEMU the process
//! exits with a failure status).

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    #[cfg(feature = "rtt")]
    defmt::error!("{}", defmt::Display2Format(info));
    crate::outln!("PANIC {}", info);
    crate::board::exit(false)
}
