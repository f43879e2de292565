//! A panic reports its message and location on the board's output, then
//! halts (under QEMU the process exits with a failure status).

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    crate::outln!("PANIC {}", info);
    crate::board::exit(false)
}
