//! Overwriting secrets that are no longer needed (best effort without `unsafe`).

/// Zeroes `bytes`. `black_box` makes the compiler treat the zeroed bytes as read, so it cannot
/// drop the writes as dead stores. Copies the hash function made on its own stack are out of
/// reach; they are overwritten by later calls.
pub(crate) fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}
