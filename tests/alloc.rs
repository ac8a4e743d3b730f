//! The counting allocator installed as the global one, as the binary does.

use roost::alloc::{allocated, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const MIB: usize = 1 << 20;

#[test]
fn counts_allocations_once_installed() {
    let before = allocated().expect("the installed allocator reports a count");
    let block = std::hint::black_box(vec![1u8; 8 * MIB]);
    let during = allocated().unwrap();
    assert!(during >= before + 7 * MIB, "{before} -> {during}");
    drop(block);
    let after = allocated().unwrap();
    assert!(after + 7 * MIB <= during, "{during} -> {after}");

    // A new thread picks its stripe on its first allocation and counts from there.
    let seen = std::thread::spawn(move || {
        let block = std::hint::black_box(vec![1u8; 8 * MIB]);
        let seen = allocated().unwrap();
        drop(block);
        seen
    })
    .join()
    .unwrap();
    assert!(seen >= after + 7 * MIB, "{after} -> {seen}");
}
