//! The connection arguments every list takes, read once for all of them.

use crate::error::ApiError;

/// How a connection is paged: forward with `first`/`after` (the default), or backward with
/// `last`/`before`; `C` is what a cursor names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Paging<C> {
    /// The `size` items after `after` (from the start without one).
    Forward { size: usize, after: Option<C> },
    /// The `size` items before `before` (up to the end without one).
    Backward { size: usize, before: Option<C> },
}

/// The connection arguments every list takes.
#[derive(Debug, Default)]
pub(super) struct PageArgs {
    pub(super) first: Option<i32>,
    pub(super) after: Option<String>,
    pub(super) last: Option<i32>,
    pub(super) before: Option<String>,
}

impl PageArgs {
    /// Reads the arguments: one direction, a page size within `max` (20 when not given), and
    /// cursors of this connection (`cursor` reads one).
    pub(super) fn paging<C>(
        self,
        max: usize,
        cursor: impl Fn(&str) -> Result<C, ApiError>,
    ) -> Result<Paging<C>, ApiError> {
        let backward = self.last.is_some() || self.before.is_some();
        if backward && (self.first.is_some() || self.after.is_some()) {
            return Err(ApiError::BadUserInput(
                "page forward with `first`/`after` or backward with `last`/`before`, not both"
                    .to_owned(),
            ));
        }
        Ok(if backward {
            Paging::Backward {
                size: page_size("last", self.last, max)?,
                before: self.before.as_deref().map(cursor).transpose()?,
            }
        } else {
            Paging::Forward {
                size: page_size("first", self.first, max)?,
                after: self.after.as_deref().map(cursor).transpose()?,
            }
        })
    }

    /// Reads `first` and `after` of a list that only pages forward: the page size within
    /// `max` (20 when not given) and the cursor, if any.
    pub(super) fn forward<C>(
        first: Option<i32>,
        after: Option<&str>,
        max: usize,
        cursor: impl Fn(&str) -> Result<C, ApiError>,
    ) -> Result<(usize, Option<C>), ApiError> {
        Ok((
            page_size("first", first, max)?,
            after.map(cursor).transpose()?,
        ))
    }
}

/// The page size argument `name` asked for, within `max` (20 when not given).
fn page_size(name: &str, n: Option<i32>, max: usize) -> Result<usize, ApiError> {
    usize::try_from(n.unwrap_or(20))
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| ApiError::BadUserInput(format!("`{name}` must be between 1 and {max}")))
}
