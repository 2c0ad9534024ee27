//! Token scopes: which operations on which resources a token allows, and
//! whether one scope lies within another (what a token may issue).
//!
//! Every permission decision of the server is [`Scope::allows`]; listings
//! are narrowed to the scope with [`ListWindow`].

use std::collections::BTreeSet;

use super::ops::{OpGroups, Operation};
use crate::page::{Page, PageRequest};

/// A set of resource names: one exact name, or every name with a prefix.
/// `Exact("")` is no name and `Prefix("")` is every name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceSet {
    Exact(String),
    Prefix(String),
}

impl ResourceSet {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(exact) => !exact.is_empty() && exact == name,
            Self::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Self::Exact(e) if e.is_empty())
    }

    /// Whether every name in `self` is in `outer`.
    pub fn within(&self, outer: &ResourceSet) -> bool {
        if self.is_empty() {
            return true;
        }
        match self {
            Self::Exact(name) => outer.matches(name),
            // A prefix set is unbounded, so only a prefix set can hold it.
            Self::Prefix(prefix) => matches!(outer, Self::Prefix(o) if prefix.starts_with(o.as_str())),
        }
    }
}

/// An absent set is no names.
fn set_matches(set: Option<&ResourceSet>, name: &str) -> bool {
    set.is_some_and(|s| s.matches(name))
}

fn set_within(inner: Option<&ResourceSet>, outer: Option<&ResourceSet>) -> bool {
    match (inner, outer) {
        (None, _) => true,
        (Some(inner), None) => inner.is_empty(),
        (Some(inner), Some(outer)) => inner.within(outer),
    }
}

/// What a token may do, as issued.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    pub basins: Option<ResourceSet>,
    pub streams: Option<ResourceSet>,
    pub access_tokens: Option<ResourceSet>,
    pub ops: BTreeSet<Operation>,
    pub op_groups: OpGroups,
}

/// What an operation acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// The account as a whole (listings are narrowed separately).
    Account,
    Basin(&'a str),
    Stream {
        basin: &'a str,
        stream: &'a str,
    },
    AccessToken(&'a str),
}

impl Scope {
    /// Every operation on every resource.
    pub fn everything() -> Self {
        let all = || Some(ResourceSet::Prefix(String::new()));
        Self {
            basins: all(),
            streams: all(),
            access_tokens: all(),
            ops: Operation::ALL.into_iter().collect(),
            op_groups: OpGroups::default(),
        }
    }

    /// The effective operations: the union of `ops` and `op_groups`.
    pub fn permits(&self, op: Operation) -> bool {
        self.ops.contains(&op) || self.op_groups.grants(op)
    }

    pub fn permits_any(&self) -> bool {
        Operation::ALL.into_iter().any(|op| self.permits(op))
    }

    /// The one permission rule: `op` is among the effective operations and
    /// every name of `resource` is in the matching resource set.
    pub fn allows(&self, op: Operation, resource: Resource<'_>) -> bool {
        self.permits(op)
            && match resource {
                Resource::Account => true,
                Resource::Basin(basin) => set_matches(self.basins.as_ref(), basin),
                Resource::Stream { basin, stream } => {
                    set_matches(self.basins.as_ref(), basin) && set_matches(self.streams.as_ref(), stream)
                }
                Resource::AccessToken(id) => set_matches(self.access_tokens.as_ref(), id),
            }
    }

    /// A one-line description for logs.
    pub fn summary(&self) -> String {
        let set = |s: &Option<ResourceSet>| match s {
            None => "none".to_owned(),
            Some(ResourceSet::Exact(e)) => format!("exact:{e:?}"),
            Some(ResourceSet::Prefix(p)) => format!("prefix:{p:?}"),
        };
        let ops: Vec<&str> = Operation::ALL.into_iter().filter(|op| self.permits(*op)).map(Operation::as_str).collect();
        format!(
            "basins={} streams={} access_tokens={} ops=[{}]",
            set(&self.basins),
            set(&self.streams),
            set(&self.access_tokens),
            ops.join(",")
        )
    }

    /// Whether everything `self` allows, `outer` allows too.
    pub fn within(&self, outer: &Scope) -> bool {
        Operation::ALL.into_iter().all(|op| !self.permits(op) || outer.permits(op))
            && set_within(self.basins.as_ref(), outer.basins.as_ref())
            && set_within(self.streams.as_ref(), outer.streams.as_ref())
            && set_within(self.access_tokens.as_ref(), outer.access_tokens.as_ref())
    }
}

/// A listing narrowed to a resource set: the page to fetch, and how to
/// cut what comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListWindow {
    /// The set and the request share no name.
    Nothing,
    /// Fetch this page as it is.
    Page(PageRequest),
    /// Fetch this page and keep only `name` (an exact set).
    Only { page: PageRequest, name: String },
}

impl ListWindow {
    pub fn new(set: Option<&ResourceSet>, request: PageRequest) -> Self {
        match set {
            None => Self::Nothing,
            Some(ResourceSet::Exact(name)) if !name.is_empty() && request.admits(name) => {
                // `name` sorts first among the names it prefixes.
                let page = PageRequest { prefix: name.clone(), start_after: request.start_after, limit: 1 };
                Self::Only { page, name: name.clone() }
            }
            Some(ResourceSet::Exact(_)) => Self::Nothing,
            Some(ResourceSet::Prefix(p)) if request.prefix.starts_with(p.as_str()) => Self::Page(request),
            Some(ResourceSet::Prefix(p)) if p.starts_with(request.prefix.as_str()) => {
                Self::Page(PageRequest { prefix: p.clone(), ..request })
            }
            Some(ResourceSet::Prefix(_)) => Self::Nothing,
        }
    }

    /// The page to fetch, if any.
    pub fn page(&self) -> Option<&PageRequest> {
        match self {
            Self::Nothing => None,
            Self::Page(page) | Self::Only { page, .. } => Some(page),
        }
    }

    /// Cuts a fetched page down to the window.
    pub fn finish<T>(&self, page: Page<T>, name_of: impl Fn(&T) -> &str) -> Page<T> {
        match self {
            Self::Nothing => Page { items: Vec::new(), has_more: false },
            Self::Page(_) => page,
            Self::Only { name, .. } => {
                Page { items: page.items.into_iter().filter(|item| name_of(item) == name).collect(), has_more: false }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::access::ops::ReadWrite;

    fn set() -> impl Strategy<Value = Option<ResourceSet>> {
        prop_oneof![
            Just(None),
            "[ab]{0,3}".prop_map(|s| Some(ResourceSet::Exact(s))),
            "[ab]{0,3}".prop_map(|s| Some(ResourceSet::Prefix(s))),
        ]
    }

    fn read_write() -> impl Strategy<Value = ReadWrite> {
        (any::<bool>(), any::<bool>()).prop_map(|(read, write)| ReadWrite { read, write })
    }

    fn scope() -> impl Strategy<Value = Scope> {
        let ops = proptest::collection::btree_set(proptest::sample::select(Operation::ALL.to_vec()), 0..6);
        let groups = (read_write(), read_write(), read_write()).prop_map(|(account, basin, stream)| OpGroups {
            account,
            basin,
            stream,
        });
        (set(), set(), set(), ops, groups).prop_map(|(basins, streams, access_tokens, ops, op_groups)| Scope {
            basins,
            streams,
            access_tokens,
            ops,
            op_groups,
        })
    }

    fn resource() -> impl Strategy<Value = (u8, String, String)> {
        (0u8..4, "[ab]{0,4}", "[ab]{0,4}")
    }

    fn as_resource<'a>(kind: u8, a: &'a str, b: &'a str) -> Resource<'a> {
        match kind {
            0 => Resource::Account,
            1 => Resource::Basin(a),
            2 => Resource::Stream { basin: a, stream: b },
            _ => Resource::AccessToken(a),
        }
    }

    #[test]
    fn empty_exact_and_absent_sets_match_nothing_and_empty_prefix_everything() {
        assert!(!ResourceSet::Exact(String::new()).matches(""));
        assert!(!set_matches(None, "a"));
        assert!(ResourceSet::Prefix(String::new()).matches("anything"));
        assert!(ResourceSet::Exact("ab".into()).matches("ab"));
        assert!(!ResourceSet::Exact("ab".into()).matches("abc"));
    }

    #[test]
    fn an_op_needs_the_op_and_every_name_of_the_resource() {
        let scope = Scope {
            basins: Some(ResourceSet::Exact("b1".into())),
            streams: Some(ResourceSet::Prefix("logs/".into())),
            ops: [Operation::Read].into(),
            ..Scope::default()
        };
        assert!(scope.allows(Operation::Read, Resource::Stream { basin: "b1", stream: "logs/x" }));
        assert!(!scope.allows(Operation::Append, Resource::Stream { basin: "b1", stream: "logs/x" }));
        assert!(!scope.allows(Operation::Read, Resource::Stream { basin: "b2", stream: "logs/x" }));
        assert!(!scope.allows(Operation::Read, Resource::Stream { basin: "b1", stream: "other" }));
        assert!(!scope.allows(Operation::Read, Resource::AccessToken("t")));
    }

    proptest! {
        /// A token never gains an operation or a resource outside the scope
        /// of the token that issued it.
        #[test]
        fn a_scope_within_another_allows_nothing_more(
            inner in scope(), outer in scope(), op in proptest::sample::select(Operation::ALL.to_vec()),
            (kind, a, b) in resource(),
        ) {
            let resource = as_resource(kind, &a, &b);
            if inner.within(&outer) && inner.allows(op, resource) {
                prop_assert!(outer.allows(op, resource));
            }
        }

        #[test]
        fn within_is_reflexive_and_everything_holds_every_scope(s in scope()) {
            prop_assert!(s.within(&s));
            prop_assert!(s.within(&Scope::everything()));
        }

        #[test]
        fn set_within_agrees_with_membership(inner in set(), outer in set(), name in "[ab]{0,5}") {
            if set_within(inner.as_ref(), outer.as_ref()) && set_matches(inner.as_ref(), &name) {
                prop_assert!(set_matches(outer.as_ref(), &name));
            }
        }

        /// Paging through a narrowed listing yields exactly the names that
        /// both the request and the set admit.
        #[test]
        fn narrowed_listing_is_the_intersection(
            names in proptest::collection::btree_set("[ab]{1,4}", 0..30),
            set in set(), prefix in "[ab]{0,2}", limit in 1usize..5,
        ) {
            let expected: Vec<&String> =
                names.iter().filter(|n| n.starts_with(&prefix) && set_matches(set.as_ref(), n)).collect();
            let mut seen = Vec::new();
            let mut start_after = String::new();
            loop {
                let request = PageRequest::new(prefix.clone(), start_after.clone(), Some(limit));
                let window = ListWindow::new(set.as_ref(), request);
                let fetched = match window.page() {
                    Some(page) => names.iter().filter(|n| page.admits(n)).take(page.limit + 1).collect(),
                    None => Vec::new(),
                };
                let limit = window.page().map_or(1, |p| p.limit);
                let page = window.finish(Page::from_fetched(fetched, limit), |n| n.as_str());
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
