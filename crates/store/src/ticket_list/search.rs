//! Full-text search in the ticket list: which tickets have a word, in their
//! title and fields or in one of their comments.
//!
//! The list shows the newest matching tickets, and no full-text index hands
//! out its matches newest first, so there are two ways to a page: gather
//! every match from the index and keep the newest (cheap when few tickets
//! have the word), or walk the list newest first and check each ticket until
//! the page is full (cheap when many do: about `page / share` tickets are
//! checked). Each alone is slow at a million tickets for the other kind of
//! word — gathering a word every ticket has, or walking past every ticket for
//! a word twenty have. So a search is first counted in the index, up to
//! [`RARE_MATCHES`]: with no more matches it is *rare*, and its matches are
//! gathered (a page's tickets must be among them); with more it is *common*,
//! and checked along the walk. Both ways give the same tickets; only the cost
//! differs.
//!
//! PostgreSQL counts each word on its own (the rare words' matches are
//! intersected) and checks a common word per ticket in the generated column
//! `tickets.search` (migration 13) or, failing that, the ticket's comments
//! (through `comments_ticket`): a microsecond or two per ticket.
//!
//! SQLite keeps a ticket's words and its comments' in one FTS5 row (migration
//! 13), so a search is one FTS5 query (`"a" AND "b"`). Looking one ticket up
//! in a common word's index costs 20–50 µs, too much to walk with; reading the
//! matches of a range of ids is cheap (under a microsecond each). So a common
//! search reads windows of ticket ids newest first — [`FIRST_WINDOW`] ids,
//! then four times as many each time — and in each window the list walks its
//! own index as usual, checking tickets against that window's matches, until
//! the page is full: about five windows at a million tickets.

use super::Bounds;
use crate::sql::{self, Params, int, text};
use crate::{CompanyId, Result, Store, StoreError};
use sea_orm::DbBackend;

/// The most tickets (and, on PostgreSQL, separately, comments) a search may
/// match to be *rare*: its matches gathered from the index. Above it, at
/// least one ticket in `company size / RARE_MATCHES` matches, and a page is
/// found by checking that many times the page size along the list.
pub(crate) const RARE_MATCHES: usize = 5000;

/// SQLite: how many ticket ids the first window of a common search spans.
pub(crate) const FIRST_WINDOW: i64 = 4096;

/// Most whitespace-separated words of a search that are used (each is a
/// condition of the query).
const MAX_SEARCH_WORDS: usize = 8;

/// How a search is matched (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct SearchPlan {
    /// The tickets matching every rare word, ascending (`None`: nothing rare).
    candidates: Option<Vec<i64>>,
    /// PostgreSQL: words many tickets have, checked ticket by ticket.
    common_words: Vec<String>,
    /// SQLite: the FTS5 query of a common search, read in windows of ids.
    common_query: Option<String>,
}

impl SearchPlan {
    /// Whether no ticket can match: a rare word no ticket has, or rare words
    /// no ticket has together.
    pub(crate) fn finds_nothing(&self) -> bool {
        self.candidates.as_ref().is_some_and(Vec::is_empty)
    }

    /// Whether the list is read in windows of ticket ids (SQLite, a common search).
    pub(crate) fn windowed(&self) -> bool {
        self.common_query.is_some()
    }

    /// The conditions on tickets `t` (of the company bound at `company`); a
    /// windowed search's condition comes from [`SearchPlan::windowed_search`].
    pub(crate) fn conditions(&self, backend: DbBackend, params: &mut Params, company: &str) -> Vec<String> {
        let mut conditions = Vec::new();
        if let Some(candidates) = &self.candidates {
            let ids = params.bind(sql::ids(candidates));
            conditions.push(format!("t.id IN ({})", sql::id_list(backend, &ids)));
        }
        for word in &self.common_words {
            let query = params.bind(text(word.as_str()));
            conditions.push(format!(
                "(t.search @@ plainto_tsquery('simple', {query}) OR EXISTS (SELECT 1 FROM comments c \
                 WHERE c.company_id = {company} AND c.ticket_id = t.id \
                 AND {COMMENT_DOCUMENT} @@ plainto_tsquery('simple', {query})))"
            ));
        }
        conditions
    }

    /// SQLite, a common search: its values bound for one window of ticket
    /// ids (`bounds`, `width` ids wide), for [`WindowedSearch::condition`].
    pub(crate) fn windowed_search(&self, params: &mut Params, bounds: Bounds, width: i64) -> Option<WindowedSearch> {
        let query = params.bind(text(self.common_query.as_deref()?));
        Some(WindowedSearch { query, bounds: bounds.on("rowid"), few: (width / PROBES_PER_MATCH).max(16) })
    }
}

/// SQLite: how many of a window's matches cost as much to gather as one
/// ticket costs to look up in the index on its own (0.2–0.3 µs against
/// 20–50 µs, measured at a million tickets).
const PROBES_PER_MATCH: i64 = 128;

/// SQLite: a common search within one window of ticket ids.
#[derive(Debug)]
pub(crate) struct WindowedSearch {
    /// The placeholder of the FTS5 query.
    query: String,
    /// The window as conditions on `rowid`.
    bounds: Vec<String>,
    /// Below this many tickets in a walk, each is looked up on its own.
    few: i64,
}

impl WindowedSearch {
    /// The condition on tickets `t` of the walk `walk` (its FROM and WHERE,
    /// within the window, without this condition). A walk of few tickets looks
    /// each up in the index; a longer one checks them against the window's
    /// matches, gathered once, when the first is checked (`+` keeps SQLite
    /// from reading the tickets through that list: the walk's index stays the
    /// walk). The count of the walk is a query of its own, run once.
    pub(crate) fn condition(&self, walk: &str) -> String {
        let Self { query, bounds, few } = self;
        let mut matches = vec![format!("ticket_search MATCH {query}")];
        matches.extend(bounds.iter().cloned());
        format!(
            "CASE WHEN (SELECT count(*) FROM (SELECT 1 {walk} LIMIT {few})) < {few} \
             THEN EXISTS (SELECT 1 FROM ticket_search WHERE ticket_search MATCH {query} AND rowid = t.id) \
             ELSE +t.id IN (SELECT rowid FROM ticket_search WHERE {}) END",
            matches.join(" AND ")
        )
    }
}

/// PostgreSQL: a comment's searchable text (GIN index `comments_search`).
const COMMENT_DOCUMENT: &str = "to_tsvector('simple', c.body)";

impl Store {
    /// How the words of `input` are matched in `company`'s tickets, after
    /// counting them in the full-text index (on PostgreSQL one query per
    /// word, at most [`MAX_SEARCH_WORDS`]; on SQLite one query).
    pub(crate) async fn search_plan(&self, company: CompanyId, input: Option<&str>) -> Result<SearchPlan> {
        let mut plan = SearchPlan::default();
        let words: Vec<&str> = search_words(input).collect();
        if words.is_empty() {
            return Ok(plan);
        }
        if self.backend() != DbBackend::Postgres {
            let query = words.iter().map(|word| fts5_string(word)).collect::<Vec<_>>().join(" AND ");
            match self.rare_matches(company, &query).await? {
                Some(tickets) => plan.candidates = Some(tickets),
                None => plan.common_query = Some(query),
            }
            return Ok(plan);
        }
        for word in words {
            match self.rare_matches(company, word).await? {
                Some(tickets) => {
                    plan.candidates = Some(match plan.candidates.take() {
                        Some(before) => intersection(&before, &tickets),
                        None => tickets,
                    });
                }
                None => plan.common_words.push(word.to_owned()),
            }
        }
        Ok(plan)
    }

    /// The tickets of `company` that `query` matches (a word on PostgreSQL, an
    /// FTS5 query on SQLite), ascending, when they are few: at most
    /// [`RARE_MATCHES`] tickets, and on PostgreSQL as many comments (`None`
    /// otherwise).
    async fn rare_matches(&self, company: CompanyId, query: &str) -> Result<Option<Vec<i64>>> {
        let backend = self.backend();
        // Each side stops at one match more than a rare search has, and comes
        // back as a JSON array (a SQLite result's rows each cross from its
        // worker thread on their own).
        let cap = RARE_MATCHES + 1;
        let sql = match backend {
            DbBackend::Postgres => format!(
                "SELECT (SELECT COALESCE(json_agg(id), '[]')::text FROM (SELECT s.id FROM tickets s \
                 WHERE s.company_id = $1 AND s.search @@ plainto_tsquery('simple', $2) LIMIT {cap}) AS x), \
                 (SELECT COALESCE(json_agg(id), '[]')::text FROM (SELECT c.ticket_id AS id FROM comments c \
                 WHERE c.company_id = $1 AND {COMMENT_DOCUMENT} @@ plainto_tsquery('simple', $2) LIMIT {cap}) AS y)"
            ),
            _ => format!(
                "SELECT json_group_array(id), '[]' FROM (SELECT s.id AS id FROM ticket_search \
                 JOIN tickets s ON s.id = ticket_search.rowid WHERE ticket_search MATCH $2 AND s.company_id = $1 \
                 LIMIT {cap})"
            ),
        };
        let row = sql::one(self.db(), backend, &sql, vec![int(company.0), text(query)])
            .await?
            .ok_or_else(|| StoreError::Corrupt("a search count returned no row".into()))?;
        let ids = |at: usize| -> Result<Vec<i64>> {
            let json: String = row.try_get_by_index(at)?;
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("a search count's ids: {e}")))
        };
        let (mut tickets, comments) = (ids(0)?, ids(1)?);
        if tickets.len() > RARE_MATCHES || comments.len() > RARE_MATCHES {
            return Ok(None);
        }
        tickets.extend(comments);
        tickets.sort_unstable();
        tickets.dedup();
        Ok(Some(tickets))
    }
}

/// The ids in both ascending lists.
fn intersection(a: &[i64], b: &[i64]) -> Vec<i64> {
    let (mut i, mut j, mut both) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    both
}

/// The whitespace-separated words of a search input.
fn search_words(input: Option<&str>) -> impl Iterator<Item = &str> {
    input.unwrap_or_default().split_whitespace().take(MAX_SEARCH_WORDS)
}

/// One word as an FTS5 string: quoted, so FTS5 tokenizes it into a phrase and
/// operators, parentheses, `*` and quotes in the input are only text, never a
/// syntax error (a word of punctuation alone is an empty phrase, matching nothing).
fn fts5_string(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::{fts5_string, intersection, search_words};

    #[test]
    fn fts5_strings_quote_the_whole_word() {
        assert_eq!(fts5_string("invoice"), "\"invoice\"");
        assert_eq!(fts5_string("\"foo"), "\"\"\"foo\"");
        assert_eq!(fts5_string("ann@example.com"), "\"ann@example.com\"");
    }

    #[test]
    fn searches_use_at_most_eight_words() {
        assert_eq!(search_words(Some(" a  b\tc ")).collect::<Vec<_>>(), vec!["a", "b", "c"]);
        assert_eq!(search_words(Some("1 2 3 4 5 6 7 8 9 10")).count(), 8);
        assert_eq!(search_words(None).count(), 0);
    }

    #[test]
    fn intersections_keep_the_ids_in_both() {
        assert_eq!(intersection(&[1, 3, 5, 7], &[2, 3, 4, 7, 9]), vec![3, 7]);
        assert_eq!(intersection(&[1, 2], &[]), Vec::<i64>::new());
        assert_eq!(intersection(&[4], &[4]), vec![4]);
    }
}
