//! Cursor paging shared by SCAN, HSCAN and SSCAN.
//!
//! A cursor is a position in a fixed order: elements sorted by a stable 64-bit hash.
//! Each call returns up to COUNT elements whose hash is at least the cursor, and the
//! next cursor is one past the last hash returned. Elements present for the whole
//! iteration are therefore returned exactly once whatever rehashing happens between
//! calls, which is the guarantee Redis documents. Elements with equal hashes are
//! returned together so a page never splits them.

/// Picks the page starting at `from` among `(hash, item)` pairs. Returns the items in
/// hash order and the hash to resume from (`None` when the walk is finished).
pub fn page<T>(
    items: impl Iterator<Item = (u64, T)>,
    from: u64,
    count: usize,
) -> (Vec<T>, Option<u64>) {
    let count = count.max(1);
    let mut candidates: Vec<(u64, T)> = items.filter(|(h, _)| *h >= from).collect();
    if candidates.len() > count {
        candidates.select_nth_unstable_by_key(count - 1, |(h, _)| *h);
        let boundary = candidates[count - 1].0;
        let (mut page, rest): (Vec<_>, Vec<_>) =
            candidates.into_iter().partition(|(h, _)| *h <= boundary);
        page.sort_unstable_by_key(|(h, _)| *h);
        let next = if rest.is_empty() {
            None
        } else {
            boundary.checked_add(1)
        };
        (page.into_iter().map(|(_, t)| t).collect(), next)
    } else {
        candidates.sort_unstable_by_key(|(h, _)| *h);
        (candidates.into_iter().map(|(_, t)| t).collect(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn pages_cover_everything_once() {
        let items: Vec<(u64, u32)> = (0..100u32).map(|i| ((i as u64 * 7919) % 101, i)).collect();
        let mut seen = Vec::new();
        let mut from = 0;
        loop {
            let (got, next) = page(items.iter().copied(), from, 7);
            seen.extend(got);
            match next {
                Some(n) => from = n,
                None => break,
            }
        }
        seen.sort();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }
}
