//! Offset pagination and the merge of per-mesh pages into one cross-mesh page.

use std::sync::Arc;

use crate::resource::Resource;

/// Which slice of a sorted list to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Items to skip.
    pub offset: usize,
    /// Items to return at most.
    pub size: usize,
}

impl PageRequest {
    /// Every item.
    pub const ALL: PageRequest = PageRequest {
        offset: 0,
        size: usize::MAX,
    };

    /// The request each mesh must answer so that merging their answers yields this page: the
    /// first `offset + size` items, unskipped.
    pub fn prefix(self) -> PageRequest {
        PageRequest {
            offset: 0,
            size: self.offset.saturating_add(self.size),
        }
    }

    /// True when items remain after this page.
    pub fn has_next(self, total: usize) -> bool {
        self.offset.saturating_add(self.size) < total
    }

    /// The offset of the next page.
    pub fn next_offset(self) -> usize {
        self.offset.saturating_add(self.size)
    }

    /// The page's slice of an already sorted iterator.
    pub fn slice<T>(self, items: impl Iterator<Item = T>) -> Vec<T> {
        items.skip(self.offset).take(self.size).collect()
    }
}

/// One page of a list and the size of the whole list.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// Items of the whole list (after filtering).
    pub total: usize,
    /// This page's items.
    pub items: Vec<T>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            total: 0,
            items: Vec::new(),
        }
    }
}

/// Something listed across meshes, ordered by name then mesh (D4).
pub trait Ordered {
    /// (name, mesh).
    fn order_key(&self) -> (&str, &str);
}

impl Ordered for Arc<Resource> {
    fn order_key(&self) -> (&str, &str) {
        (&self.meta.name, &self.meta.mesh)
    }
}

/// Merges per-mesh prefixes (each sorted by name, answered for `req.prefix()`) into `req`'s page.
pub fn merge<T: Ordered>(pages: Vec<Page<T>>, req: PageRequest) -> Page<T> {
    let total = pages.iter().map(|p| p.total).sum();
    let mut items: Vec<T> = pages.into_iter().flat_map(|p| p.items).collect();
    items.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    Page {
        total,
        items: req.slice(items.into_iter()),
    }
}
