//! Listing rules shared by basins and streams.

use crate::limits::LIST_LIMIT_MAX;

/// Which page of names to list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    /// Only names beginning with this.
    pub prefix: String,
    /// Only names strictly after this.
    pub start_after: String,
    /// Page size, already normalised to 1..=1000.
    pub limit: usize,
}

impl PageRequest {
    /// A limit of 0, or above the maximum, lists the maximum.
    pub fn new(prefix: String, start_after: String, limit: Option<usize>) -> Self {
        let limit = match limit {
            Some(l) if (1..=LIST_LIMIT_MAX).contains(&l) => l,
            _ => LIST_LIMIT_MAX,
        };
        Self { prefix, start_after, limit }
    }

    /// Whether `name` belongs on a page of this request (ignoring the limit).
    pub fn admits(&self, name: &str) -> bool {
        name.starts_with(&self.prefix) && name > self.start_after.as_str()
    }
}

/// A page of results and whether more exist beyond it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// Builds a page from items in name order that all satisfy the request,
    /// of which at most `limit + 1` were fetched.
    pub fn from_fetched(mut items: Vec<T>, limit: usize) -> Self {
        let has_more = items.len() > limit;
        items.truncate(limit);
        Self { items, has_more }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn limit_is_normalised() {
        assert_eq!(PageRequest::new(String::new(), String::new(), None).limit, 1000);
        assert_eq!(PageRequest::new(String::new(), String::new(), Some(0)).limit, 1000);
        assert_eq!(PageRequest::new(String::new(), String::new(), Some(5000)).limit, 1000);
        assert_eq!(PageRequest::new(String::new(), String::new(), Some(7)).limit, 7);
    }

    proptest! {
        #[test]
        fn paging_visits_every_matching_name_once(
            names in proptest::collection::btree_set("[a-c]{1,4}", 0..40),
            prefix in "[a-c]{0,2}", limit in 1usize..7,
        ) {
            let expected: Vec<&String> = names.iter().filter(|n| n.starts_with(&prefix)).collect();
            let mut seen = Vec::new();
            let mut start_after = String::new();
            loop {
                let req = PageRequest::new(prefix.clone(), start_after.clone(), Some(limit));
                let fetched: Vec<&String> = names.iter().filter(|n| req.admits(n)).take(limit + 1).collect();
                let page = Page::from_fetched(fetched, req.limit);
                seen.extend(page.items.iter().copied());
                match (page.has_more, page.items.last()) {
                    (true, Some(last)) => start_after = (*last).clone(),
                    _ => break,
                }
            }
            prop_assert_eq!(seen, expected);
        }
    }
}
