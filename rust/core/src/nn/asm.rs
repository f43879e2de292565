//! The one form of `core::arch::asm!` the ARMv7E-M kernels use.

/// `core::arch::asm!` with `options(nostack, ..)` and the block's scratch
/// registers declared from one list:
/// `dsp_asm!([template..], [operands..], scratch(a, b), readonly)` is
/// `asm!(template.., operands.., a = out(reg) _, b = out(reg) _,
/// options(nostack, readonly))`.
macro_rules! dsp_asm {
    ([$($template:tt)*], [$($operand:tt)*], scratch($($r:ident),*) $(, $opt:ident)* $(,)?) => {
        core::arch::asm!(
            $($template)*
            $($operand)*
            $($r = out(reg) _,)*
            options(nostack $(, $opt)*)
        )
    };
}

pub(crate) use dsp_asm;
